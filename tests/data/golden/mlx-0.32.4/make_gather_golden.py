"""Writes one gather_qmm golden file in README.md's layout with the installed MLX.

    python make_gather_golden.py affine 1 64 f32 4242   # -> gather_affine_b1_g64_f32.safetensors

(The 1-bit file was made this way with mlx[cpu] 0.32.4; the others by an earlier script of
the same layout.)"""

import sys

import mlx.core as mx

DTYPES = {"f32": mx.float32, "f16": mx.float16, "bf16": mx.bfloat16}
EXPERTS, TOPK, TOKENS, N, K, N2 = 8, 2, 40, 24, 128, 64


def main(mode, bits, group_size, dtype_name, seed):
    dtype = DTYPES[dtype_name]
    settings = dict(group_size=group_size, bits=bits, mode=mode)
    keys = mx.random.split(mx.random.key(seed), 6)
    w = mx.random.normal((EXPERTS, N, K), key=keys[0]).astype(dtype)
    w_nt = mx.random.normal((EXPERTS, K, N2), key=keys[1]).astype(dtype)
    x = mx.random.normal((TOKENS, K), key=keys[2]).astype(dtype)
    x_batch = mx.random.normal((5, 2, K), key=keys[3]).astype(dtype)
    # Distinct top-k experts per token.
    indices = mx.argsort(mx.random.uniform(shape=(TOKENS, EXPERTS), key=keys[4]), axis=-1)[:, :TOPK]
    indices = indices.astype(mx.uint32)
    lhs_rhs = mx.random.randint(0, 5 * EXPERTS, (2, 3, 4), key=keys[5])
    lhs, rhs = (lhs_rhs[0] % 5).astype(mx.uint32), (lhs_rhs[1] % EXPERTS).astype(mx.uint32)

    q = mx.quantize(w, **settings)
    q_nt = mx.quantize(w_nt, **settings)
    x4 = x[:, None, None, :]
    y_unsorted = mx.gather_qmm(x4, *q, rhs_indices=indices, transpose=True, **settings)
    order = mx.argsort(indices.flatten()).astype(mx.uint32)
    y_sorted = mx.gather_qmm(x[order // TOPK][:, None, :], *q, rhs_indices=indices.flatten()[order],
                             transpose=True, sorted_indices=True, **settings)
    y_both = mx.gather_qmm(x_batch, *q, lhs_indices=lhs, rhs_indices=rhs, transpose=True, **settings)
    y_nt = mx.gather_qmm(x4, *q_nt, rhs_indices=indices, transpose=False, **settings)

    tensors = dict(w=w, x=x, indices=indices, y_unsorted=y_unsorted, order=order, y_sorted=y_sorted,
                   x_batch=x_batch, lhs_indices=lhs, rhs_indices=rhs, y_both=y_both, y_nt=y_nt,
                   wq=q[0], scales=q[1], wq_nt=q_nt[0], scales_nt=q_nt[1])
    if mode == "affine":
        tensors.update(biases=q[2], biases_nt=q_nt[2])
    metadata = dict(experts=str(EXPERTS), topk=str(TOPK), mode=mode, bits=str(bits),
                    group_size=str(group_size), dtype=dtype_name, seed=str(seed),
                    mlx_version=mx.__version__, device="cpu")
    mx.save_safetensors(f"gather_{mode}_b{bits}_g{group_size}_{dtype_name}.safetensors", tensors, metadata)


if __name__ == "__main__":
    mode, bits, group_size, dtype_name, seed = sys.argv[1:]
    main(mode, int(bits), int(group_size), dtype_name, int(seed))
