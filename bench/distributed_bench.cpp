// The cost of tensor parallelism on this machine, run under mpirun:
//   mpirun --oversubscribe -np 2 build/bench/distributed_bench [hidden=4096]
// Rank 0 prints the median latency of all_sum of one element and of one token's activations (1,
// hidden) in float32 and bfloat16, of a 4-bit g64 (hidden, hidden) projection unsharded, and of its
// all-to-sharded and sharded-to-all shards (compute plus, for the latter, the all_sum),
// and the weight bytes each rank holds. One thread per rank.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "qlinear/qlinear.h"

namespace {

using namespace qlinear;

// Median of `repeats` timed calls, in microseconds; every rank runs the same calls.
double median_us(const std::function<void()>& call, int repeats) {
  for (int i = 0; i < repeats / 10 + 1; ++i) call();
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    call();
    times.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::nth_element(times.begin(), times.begin() + repeats / 2, times.end());
  return times[static_cast<std::size_t>(repeats / 2)];
}

std::size_t parameter_bytes(const nn::Module& module) {
  std::size_t bytes = 0;
  for (const auto& [name, tensor] : module.parameters()) bytes += tensor.nbytes();
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t hidden = argc > 1 ? std::atoll(argv[1]) : 4096;
  set_num_threads(1);
  const distributed::Group group = distributed::init();
  const int ranks = group.size(), rank = group.rank();
  const auto report = [&](const char* what, double value, const char* unit) {
    if (rank == 0) std::printf("%-44s %10.1f %s\n", what, value, unit);
  };
  if (rank == 0)
    std::printf("ranks %d, hidden %lld, 1 thread per rank\n", ranks, (long long)hidden);

  // One element: the latency floor (the shape check's all-reduce and the sum's).
  const Tensor one = Tensor::zeros({1}, Dtype::float32);
  report("all_sum (1,) float32", median_us([&] { distributed::all_sum(one); }, 2000), "us");
  for (Dtype dtype : {Dtype::float32, Dtype::bfloat16}) {
    const Tensor x = Tensor::zeros({1, hidden}, dtype);
    const std::string label = std::string("all_sum (1, hidden) ") + std::string(name_of(dtype));
    report(label.c_str(), median_us([&] { distributed::all_sum(x); }, 2000), "us");
  }

  nn::seed(1);
  const auto layer = nn::QuantizedLinear::from_linear(nn::Linear(hidden, hidden, false));
  const Tensor x = Tensor::zeros({1, hidden}, Dtype::float32);
  report("QuantizedLinear (hidden, hidden) 4-bit, M=1", median_us([&] { (*layer)(x); }, 200), "us");
  const auto to_sharded = nn::QuantizedAllToShardedLinear::from_quantized_linear(*layer);
  report("  all-to-sharded shard", median_us([&] { (*to_sharded)(x); }, 200), "us");
  const auto to_all = nn::QuantizedShardedToAllLinear::from_quantized_linear(*layer);
  const Tensor x_part = Tensor::zeros({1, hidden / ranks}, Dtype::float32);
  report("  sharded-to-all shard + all_sum", median_us([&] { (*to_all)(x_part); }, 200), "us");
  report("weight bytes, unsharded", static_cast<double>(parameter_bytes(*layer)) / 1024, "KiB");
  report("weight bytes per rank, all-to-sharded",
         static_cast<double>(parameter_bytes(*to_sharded)) / 1024, "KiB");
  report("weight bytes per rank, sharded-to-all",
         static_cast<double>(parameter_bytes(*to_all)) / 1024, "KiB");
  return 0;
}
