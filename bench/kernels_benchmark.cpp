// Micro-benchmarks of quantized_matmul, quantize and dequantize through the public API,
// with the instruction set from QLINEAR_ISA and the thread count from QLINEAR_NUM_THREADS.
// Counters: bytes_per_second counts weight, scale and bias bytes; FLOPS counts 2*M*K*N.
#include <benchmark/benchmark.h>

#include <vector>

#include "qlinear/qlinear.h"

#if defined(QLINEAR_HAVE_OPENBLAS)
#include <cblas.h>
#endif

namespace qlinear {
namespace {

// Args: M, K, N, bits, group size, transpose.
void BM_QuantizedMatmul(benchmark::State& state) {
  const std::int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  const int bits = static_cast<int>(state.range(3)), gs = static_cast<int>(state.range(4));
  const bool transpose = state.range(5) != 0;
  const Tensor w = random_normal(transpose ? Shape{N, K} : Shape{K, N}, Dtype::float32, 1);
  const Tensor x = random_normal({M, K}, Dtype::float32, 2);
  const Quantized q = quantize(w, gs, bits);
  for (auto _ : state) {
    benchmark::DoNotOptimize(quantized_matmul(x, q.wq, q.scales, q.biases, transpose, gs, bits));
  }
  const double bytes = static_cast<double>(q.wq.nbytes() + q.scales.nbytes() + q.biases->nbytes());
  state.counters["bytes_per_second"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * M * K * N, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_QuantizedMatmul)
    ->ArgNames({"M", "K", "N", "bits", "gs", "T"})
    ->ArgsProduct({{1, 4, 16}, {4096}, {14336}, {2, 3, 4, 8}, {64}, {1}})
    ->Args({1, 4096, 14336, 4, 64, 0})
    ->Args({1, 4096, 256, 4, 64, 1})
    ->Args({1, 4096, 256, 8, 64, 1})
    ->Args({512, 4096, 4096, 4, 64, 1})
    ->Args({512, 4096, 4096, 4, 64, 0})
    ->Unit(benchmark::kMicrosecond);

#if defined(QLINEAR_HAVE_OPENBLAS)
// OpenBLAS sgemm on the dense float32 matrix of the same shape (x @ W.T). Args: M, K, N.
void BM_DenseSgemm(benchmark::State& state) {
  const int M = static_cast<int>(state.range(0)), K = static_cast<int>(state.range(1)),
            N = static_cast<int>(state.range(2));
  const std::vector<float> x = random_normal({M, K}, Dtype::float32, 2).to_floats();
  const std::vector<float> w = random_normal({N, K}, Dtype::float32, 1).to_floats();
  std::vector<float> y(static_cast<std::size_t>(M) * N);
  openblas_set_num_threads(num_threads());
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x.data(), K, w.data(), K,
                0.0f, y.data(), N);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * M * K * N, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_DenseSgemm)
    ->Args({1, 4096, 14336})
    ->Args({512, 4096, 4096})
    ->Unit(benchmark::kMicrosecond);
#endif

// Args: rows, cols, bits. Counter: float32 input bytes (quantize) or output bytes.
void BM_Quantize(benchmark::State& state) {
  const Tensor w = random_normal({state.range(0), state.range(1)}, Dtype::float32, 1);
  for (auto _ : state) benchmark::DoNotOptimize(quantize(w, 64, static_cast<int>(state.range(2))));
  state.counters["bytes_per_second"] = benchmark::Counter(
      static_cast<double>(w.nbytes()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Quantize)->Args({4096, 4096, 4})->Unit(benchmark::kMillisecond);

void BM_Dequantize(benchmark::State& state) {
  const Tensor w = random_normal({state.range(0), state.range(1)}, Dtype::float32, 1);
  const int bits = static_cast<int>(state.range(2));
  const Quantized q = quantize(w, 64, bits);
  for (auto _ : state) benchmark::DoNotOptimize(dequantize(q.wq, q.scales, q.biases, 64, bits));
  state.counters["bytes_per_second"] = benchmark::Counter(
      static_cast<double>(w.nbytes()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Dequantize)->Args({4096, 4096, 4})->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace qlinear

BENCHMARK_MAIN();
