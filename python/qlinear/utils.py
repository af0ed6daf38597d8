"""Nested parameter trees and their dotted-path form, as mlx.utils has them."""


def tree_flatten(tree, prefix=""):
    """[(dotted path, leaf)] for a tree of dicts and lists, in order:
    {"layers": [{"weight": w}]} -> [("layers.0.weight", w)]."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        return [(prefix, tree)]
    flat = []
    for key, subtree in items:
        flat.extend(tree_flatten(subtree, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def tree_unflatten(flat):
    """The inverse of tree_flatten: a level whose keys are all integers becomes a list."""
    if len(flat) == 1 and flat[0][0] == "":
        return flat[0][1]
    children = {}
    for path, value in flat:
        head, _, rest = path.partition(".")
        children.setdefault(head, []).append((rest, value))
    if children and all(key.isdigit() for key in children):
        return [tree_unflatten(children[key]) for key in sorted(children, key=int)]
    return {key: tree_unflatten(subtree) for key, subtree in children.items()}
