// mlx-lm's mixed-precision recipes (mlx_lm.convert --quant-predicate mixed_*).
#include <charconv>
#include <stdexcept>

#include "qlinear/model.h"

namespace qlinear {
namespace {

struct RecipeBits {
  const char* name;
  int low, high;
};
constexpr RecipeBits kRecipes[] = {
    {"mixed_2_6", 2, 6}, {"mixed_3_4", 3, 4}, {"mixed_3_6", 3, 6}, {"mixed_4_6", 4, 6}};

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot - start));
    if (dot == std::string_view::npos) return parts;
    start = dot + 1;
  }
}

std::optional<int> as_index(std::string_view segment) {
  int value = 0;
  const auto [end, error] = std::from_chars(segment.data(), segment.data() + segment.size(), value);
  if (error != std::errc{} || end != segment.data() + segment.size()) return std::nullopt;
  return value;
}

}  // namespace

const std::vector<std::string>& recipe_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const RecipeBits& recipe : kRecipes) out.emplace_back(recipe.name);
    return out;
  }();
  return names;
}

Recipe mixed_recipe(std::string_view name, const std::vector<std::string>& layer_paths,
                    int group_size) {
  const RecipeBits* bits = nullptr;
  for (const RecipeBits& recipe : kRecipes) {
    if (name == recipe.name) bits = &recipe;
  }
  if (!bits) throw std::invalid_argument("Invalid quant recipe " + std::string(name));

  // The block index sits at the first numeric segment of the down_proj paths.
  std::optional<std::size_t> location;
  int blocks = 0;
  for (const std::string& path : layer_paths) {
    if (path.find("down_proj") == std::string::npos) continue;
    const auto parts = split(path);
    for (std::size_t i = 0; !location && i < parts.size(); ++i) {
      if (as_index(parts[i])) location = i;
    }
    if (location && *location < parts.size()) {
      blocks = std::max(blocks, as_index(parts[*location]).value_or(-1) + 1);
    }
  }
  if (!location) {
    throw std::invalid_argument("Model does not have expected keys for mixed quant (" +
                                std::string(name) + " needs numbered blocks with a down_proj).");
  }

  const QuantSpec low{group_size, bits->low, QuantMode::affine};
  const QuantSpec high{group_size, bits->high, QuantMode::affine};
  return [=](std::string_view path) {
    const auto parts = split(path);
    // Paths outside the blocks (embeddings, lm_head) count as block 0, as in mlx-lm.
    const int index = parts.size() > *location ? as_index(parts[*location]).value_or(0) : 0;
    const bool more_bits =
        index < blocks / 8 || index >= 7 * blocks / 8 || (index - blocks / 8) % 3 == 2;
    const auto has = [&](const char* key) { return path.find(key) != std::string_view::npos; };
    if (more_bits && (has("v_proj") || has("v_a_proj") || has("v_b_proj"))) return high;
    if (more_bits && has("down_proj")) return high;
    if (has("lm_head")) return high;
    return low;
  };
}

}  // namespace qlinear
