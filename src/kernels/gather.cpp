#include "kernels/gather.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/thread_pool.h"

namespace qlinear::kernels {
namespace {

// Bytes (words for wq) of one matrix of each operand, and of one packed weight row.
struct MatrixSizes {
  std::size_t x_bytes, out_bytes, scale_bytes_per_row;
  std::int64_t words_per_row, packed_rows;
};

MatrixSizes sizes_of(const MatmulArgs& m) {
  const std::int64_t cols = m.transpose ? m.K : m.N;  // codes per packed row
  return {static_cast<std::size_t>(m.M * m.K) * size_of(m.x_dtype),
          static_cast<std::size_t>(m.M * m.N) * size_of(m.out_dtype),
          static_cast<std::size_t>(cols / m.spec.group_size) * size_of(m.scale_dtype),
          cols * m.spec.bits / 32, m.transpose ? m.N : m.K};
}

// Packed rows [first, ...) of weight matrix w_matrix, as the product's weights.
void point_at_weights(MatmulArgs& m, const MatrixSizes& s, std::int64_t w_matrix,
                      std::int64_t first_row) {
  const std::int64_t row = w_matrix * s.packed_rows + first_row;
  m.wq += row * s.words_per_row;
  const std::size_t scale_offset = static_cast<std::size_t>(row) * s.scale_bytes_per_row;
  m.scales = static_cast<const char*>(m.scales) + scale_offset;
  if (m.biases != nullptr) m.biases = static_cast<const char*>(m.biases) + scale_offset;
}

// Output columns per product: enough blocks for many threads, at least kMinColumns wide
// (a multiple of every kernel's column tile). Depends on the problem alone.
constexpr std::int64_t kWantedProducts = 64;
constexpr std::int64_t kMinColumns = 64;

std::int64_t block_width(std::int64_t N, std::int64_t groups) {
  const std::int64_t blocks = std::clamp<std::int64_t>((kWantedProducts + groups - 1) / groups, 1,
                                                       (N + kMinColumns - 1) / kMinColumns);
  const std::int64_t width = (N + blocks - 1) / blocks;
  return (width + kMinColumns - 1) / kMinColumns * kMinColumns;
}

// The pairs of one expert: order[begin, end), their x rows and where their result goes.
struct Group {
  std::int64_t expert, begin, end;
  const void* x;  // (rows, K): in x itself, or gathered
  std::size_t y;  // byte offset of the group's (rows, N) result in the result buffer
};

// One product: columns [n0, n0 + width) of one group.
struct Block {
  std::int64_t group, n0, width;
};

}  // namespace

MatmulArgs pair_problem(const GatherArgs& a, std::int64_t x_matrix, std::int64_t w_matrix,
                        void* out) {
  const MatrixSizes s = sizes_of(a.matmul);
  MatmulArgs m = a.matmul;
  m.x = static_cast<const char*>(m.x) + x_matrix * s.x_bytes;
  point_at_weights(m, s, w_matrix, 0);
  m.out = out;
  return m;
}

void gather_by_expert(const GatherArgs& a, MatmulKernel matmul) {
  const MatmulArgs& m = a.matmul;
  const MatrixSizes s = sizes_of(m);
  if (a.pairs == 0 || s.out_bytes == 0) return;
  const std::size_t out_size = size_of(m.out_dtype);

  // The pairs in expert order, stably (counting sort): already sorted pairs stay in place.
  std::vector<std::int64_t> first(static_cast<std::size_t>(a.experts) + 1, 0);
  for (std::int64_t p = 0; p < a.pairs; ++p) ++first[a.rhs[p] + 1];
  std::partial_sum(first.begin(), first.end(), first.begin());
  std::vector<std::int64_t> order(static_cast<std::size_t>(a.pairs));
  {
    std::vector<std::int64_t> next(first.begin(), first.end() - 1);
    for (std::int64_t p = 0; p < a.pairs; ++p) order[next[a.rhs[p]]++] = p;
  }

  // x rows of a group whose x matrices are consecutive are used in place; others are
  // gathered. Results go to one buffer, (rows, width) per block, then to their pairs.
  std::vector<Group> groups;
  std::size_t gathered_bytes = 0;
  for (std::int64_t e = 0; e < a.experts; ++e) {
    if (first[e] == first[e + 1]) continue;
    groups.push_back({e, first[e], first[e + 1], nullptr, 0});
  }
  auto in_place = [&](const Group& g) {
    for (std::int64_t i = g.begin + 1; i < g.end; ++i) {
      if (a.lhs[order[i]] != a.lhs[order[i - 1]] + 1) return false;
    }
    return true;
  };
  for (const Group& g : groups) {
    if (!in_place(g)) gathered_bytes += (g.end - g.begin) * s.x_bytes;
  }
  std::vector<char> gathered(gathered_bytes);
  std::vector<char> result(static_cast<std::size_t>(a.pairs) * s.out_bytes);
  std::size_t gathered_used = 0, result_used = 0;
  for (Group& g : groups) {
    g.y = result_used;
    result_used += (g.end - g.begin) * s.out_bytes;
    if (in_place(g)) {
      g.x = static_cast<const char*>(m.x) + a.lhs[order[g.begin]] * s.x_bytes;
      continue;
    }
    char* rows = gathered.data() + gathered_used;
    for (std::int64_t i = g.begin; i < g.end; ++i, rows += s.x_bytes) {
      std::memcpy(rows, static_cast<const char*>(m.x) + a.lhs[order[i]] * s.x_bytes, s.x_bytes);
    }
    g.x = gathered.data() + gathered_used;
    gathered_used += (g.end - g.begin) * s.x_bytes;
  }

  // Transposed weights split by output rows into blocks; untransposed ones (groups along N)
  // are one product per expert, each parallel inside the kernel.
  const std::int64_t width = m.transpose ? block_width(m.N, std::ssize(groups)) : m.N;
  std::vector<Block> blocks;
  for (std::int64_t g = 0; g < std::ssize(groups); ++g) {
    for (std::int64_t n0 = 0; n0 < m.N; n0 += width) {
      blocks.push_back({g, n0, std::min(width, m.N - n0)});
    }
  }
  auto run_block = [&](const Block& b) {
    const Group& g = groups[b.group];
    const std::int64_t rows = (g.end - g.begin) * m.M;
    const std::size_t width_bytes = b.width * out_size;
    char* y = result.data() + g.y + rows * b.n0 * out_size;
    MatmulArgs product = m;
    product.x = g.x;
    product.M = rows;
    product.N = b.width;
    point_at_weights(product, s, g.expert, m.transpose ? b.n0 : 0);
    product.out = y;
    matmul(product);
    // Each of the group's rows to its place in out.
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t pair = order[g.begin + r / m.M];
      char* dst =
          static_cast<char*>(m.out) + pair * s.out_bytes + ((r % m.M) * m.N + b.n0) * out_size;
      std::memcpy(dst, y + r * width_bytes, width_bytes);
    }
  };
  if (!m.transpose) {
    for (const Block& b : blocks) run_block(b);
    return;
  }
  core::parallel_for(std::ssize(blocks), 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) run_block(blocks[i]);
  });
}

}  // namespace qlinear::kernels
