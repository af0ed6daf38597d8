// Micro-benchmarks of quantized_matmul, quantize and dequantize through the public API,
// with the instruction set from QLINEAR_ISA and the thread count from QLINEAR_NUM_THREADS.
// Counters: bytes_per_second counts weight, scale and bias bytes; FLOPS counts 2*M*K*N.
#include <benchmark/benchmark.h>

#include <vector>

#include "qlinear/qlinear.h"

#if defined(QLINEAR_HAVE_OPENBLAS)
#include <cblas.h>
#endif
#if defined(QLINEAR_BENCH_BF16_UNITS)
#include <algorithm>
#include <string>

#include "kernels/x86/bf16_units.h"
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

#if defined(QLINEAR_BENCH_BF16_UNITS)
// The bfloat16 matmul's multipliers on this CPU (kernels/x86/bf16_units.h): M=512,
// 4096x4096, 4-bit g64, bfloat16 x. Arg: 0 AMX, 1 vdpbf16ps (forced), 2 neither (what
// runs on a CPU whose vdpbf16ps is slower than its FMAs: the float32 AVX-512 kernels).
void BM_Bf16Units(benchmark::State& state) {
  namespace units = kernels::avx512_bf16;
  const std::vector<std::string> isas = supported_isas();
  if (std::find(isas.begin(), isas.end(), "avx512_bf16") == isas.end() ||
      (state.range(0) == 0 && !units::amx_usable())) {
    state.SkipWithError("not on this CPU");
    return;
  }
  const std::string saved(active_isa());
  set_isa(state.range(0) == 2 ? "avx512" : "avx512_bf16");
  units::allow_amx(state.range(0) == 0);
  units::force_vector_bf16(state.range(0) == 1);
  const Tensor w = random_normal({4096, 4096}, Dtype::float32, 1);
  const Tensor x = random_normal({512, 4096}, Dtype::bfloat16, 2);
  const Quantized q = quantize(w, 64, 4);
  for (auto _ : state) {
    benchmark::DoNotOptimize(quantized_matmul(x, q.wq, q.scales, q.biases, true, 64, 4));
  }
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * 512 * 4096 * 4096, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["vdpbf16ps_over_fma"] = units::vector_bf16_speedup();
  units::allow_amx(true);
  units::force_vector_bf16(false);
  set_isa(saved);
}
BENCHMARK(BM_Bf16Units)->ArgName("unit")->DenseRange(0, 2)->Unit(benchmark::kMillisecond);
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
