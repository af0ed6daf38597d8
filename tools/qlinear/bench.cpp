// `qlinear bench`: times quantize / dequantize / quantized_matmul / gather_qmm and attention
// over a quantized KV cache on this machine next to what bounds them (memory bandwidth,
// OpenBLAS's dense float32 product) and to the scalar reference, and prints a table or one
// JSON object per line.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <numeric>
#include <random>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "measure.h"
#include "qlinear/qlinear.h"

#if defined(QLINEAR_HAVE_OPENBLAS)
#include <cblas.h>
#endif

namespace qlinear::cli {
namespace {

struct Options {
  std::vector<std::int64_t> m = {1, 4, 16, 64, 512};
  std::vector<std::int64_t> k, n;  // empty: the suite's (K, N) pairs
  std::vector<int> bits;           // empty: every width of the mode (kQuantModes)
  std::vector<int> group_sizes;    // empty: 64, and 32/128 for 4 bits, or the mode's own
  std::vector<std::string> modes = {"affine"};
  std::vector<std::string> precisions = {"exact"};
  std::vector<std::string> dtypes = {"float32"};
  std::vector<std::string> ops = {"quantized_matmul"};
  std::vector<std::int64_t> experts = {128}, top_k = {8}, tokens = {1};  // gather_qmm
  // quantized_sdpa: one decode step's attention over a layer's quantized KV cache
  // (default: Llama-3.2-1B's 8 kv heads, GQA repeat 4, head_dim 64, 4k positions).
  std::vector<std::int64_t> kv_heads = {8}, repeats = {4}, contexts = {4096};
  std::vector<int> threads;   // empty: 1 and the default count
  std::string cold = "auto";  // auto: warm, plus cold for M = 1
  std::vector<std::string> baselines = {"dense_f32", "stream", "reference"};
  bool transpose = true;
  bool json = false;
  double min_seconds = 0.3;
};

struct Row {
  std::string op, mode = "affine", dtype = "float32", precision = "exact", isa;
  int bits = 0, group_size = 0, threads = 1;
  std::int64_t M = 0, K = 0, N = 0;
  std::int64_t experts = 0, top_k = 0, tokens = 0;  // gather_qmm rows only
  std::int64_t kv_heads = 0;                        // quantized_sdpa rows only
  bool transpose = true, cold = false;
  double median_ms = 0, gbps = 0, gflops = 0;
  // stream_read's GB/s at this thread count in this run (0: not measured); the kernels'
  // rows show their GB/s as a percentage of it.
  double read_gbps = 0;
  double read_percent() const { return read_gbps > 0 ? 100.0 * gbps / read_gbps : 0.0; }
};

// Enough copies of `bytes` of data to exceed twice the last-level cache.
int cold_copies(std::size_t bytes) {
  return static_cast<int>(2 * last_level_cache_bytes() / std::max<std::size_t>(bytes, 1) + 2);
}

Dtype parse_dtype_name(const std::string& name) {
  for (Dtype d : {Dtype::float32, Dtype::float16, Dtype::bfloat16}) {
    if (name_of(d) == name) return d;
  }
  throw std::invalid_argument("[bench] --dtype must be float32, float16 or bfloat16, not " + name);
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

void print_row(const Row& r, bool json) {
  if (json) {
    nlohmann::json j = {{"op", r.op},
                        {"mode", r.mode},
                        {"bits", r.bits},
                        {"group_size", r.group_size},
                        {"dtype", r.dtype},
                        {"M", r.M},
                        {"K", r.K},
                        {"N", r.N},
                        {"transpose", r.transpose},
                        {"threads", r.threads},
                        {"cold", r.cold},
                        {"isa", r.isa},
                        {"precision", r.precision},
                        {"median_ms", r.median_ms},
                        {"gbps", r.gbps},
                        {"gflops", r.gflops}};
    if (r.read_percent() > 0) j["pct_of_stream_read"] = r.read_percent();
    if (r.experts > 0) {
      j.erase("M");
      j.erase("K");
      j.erase("N");
      j.update({{"experts", r.experts},
                {"top_k", r.top_k},
                {"tokens", r.tokens},
                {"k", r.K},
                {"n", r.N}});
    }
    if (r.kv_heads > 0) j.update({{"kv_heads", r.kv_heads}});
    std::cout << j.dump() << std::endl;
    return;
  }
  std::cout << std::left << std::setw(17) << r.op << std::setw(7) << r.mode << std::right
            << std::setw(5) << (r.bits ? std::to_string(r.bits) : "-") << std::setw(6)
            << (r.group_size ? std::to_string(r.group_size) : "-") << std::setw(10) << r.dtype
            << std::setw(6) << (r.experts > 0 ? r.tokens * r.top_k : r.M) << std::setw(7) << r.K
            << std::setw(7) << r.N << std::setw(3) << (r.transpose ? "T" : "N") << std::setw(4)
            << r.threads << std::setw(6) << (r.cold ? "cold" : "warm") << std::setw(13) << r.isa
            << std::setw(10) << r.precision << std::setw(11) << fixed(r.median_ms, 3)
            << std::setw(9) << fixed(r.gbps, 1) << std::setw(9) << fixed(r.gflops, 1)
            << std::setw(7) << (r.read_percent() > 0 ? fixed(r.read_percent(), 0) : "-")
            << std::endl;
}

void print_header() {
  std::cout << std::left << std::setw(17) << "op" << std::setw(7) << "mode" << std::right
            << std::setw(5) << "bits" << std::setw(6) << "group" << std::setw(10) << "dtype"
            << std::setw(6) << "M" << std::setw(7) << "K" << std::setw(7) << "N" << std::setw(3)
            << "T" << std::setw(4) << "thr" << std::setw(6) << "cache" << std::setw(13) << "isa"
            << std::setw(10) << "precision" << std::setw(11) << "median_ms" << std::setw(9)
            << "GB/s" << std::setw(9) << "GFLOP/s" << std::setw(7) << "%read" << std::endl;
}

bool wants(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end() ||
         std::find(list.begin(), list.end(), "all") != list.end();
}

// Memory bandwidth with `threads` threads (measure_stream): rows "stream_triad" and
// "stream_read". Returns stream_read's GB/s, the baseline the kernels' rows are given as a
// percentage of.
double run_stream(int threads, const Options& opt) {
  const StreamRates rates = measure_stream(threads, opt.min_seconds);
  Row row;
  row.threads = threads;
  row.isa = "-";
  row.precision = "-";
  row.mode = "-";
  row.dtype = "float32";
  row.op = "stream_triad";
  row.median_ms = rates.triad_ms;
  row.gbps = rates.triad_gbps();
  print_row(row, opt.json);
  row.op = "stream_read";
  row.median_ms = rates.read_ms;
  row.gbps = rates.read_gbps();
  print_row(row, opt.json);
  return row.gbps;
}

// `call` on the scalar reference kernels, reported as a "reference" row of `row`.
void time_reference(Row row, const std::function<void(int)>& call,
                    const std::function<void(const Row&, double)>& report) {
  const std::string saved(active_isa());
  set_isa("scalar");
  row.op = "reference";
  row.isa = "scalar";
  report(row, median_ms(call, 0.0));
  set_isa(saved);
}

// One matmul case: ours with the active ISA, then (if asked) the reference and OpenBLAS.
void run_matmul(Row base, const Options& opt) {
  const Dtype dtype = parse_dtype_name(base.dtype);
  const Shape w_shape = base.transpose ? Shape{base.N, base.K} : Shape{base.K, base.N};
  const Tensor w = random_normal(w_shape, dtype, 1);
  const Tensor x = random_normal({base.M, base.K}, dtype, 2);
  const Quantized q = quantize(w, base.group_size, base.bits, base.mode);
  const std::size_t weight_bytes =
      q.wq.nbytes() + q.scales.nbytes() + (q.biases ? q.biases->nbytes() : 0);
  std::vector<Quantized> copies = {q};
  if (base.cold) {
    for (int i = 1; i < cold_copies(weight_bytes); ++i) {
      copies.push_back({q.wq.copy(), q.scales.copy(),
                        q.biases ? std::optional(q.biases->copy()) : std::nullopt});
    }
  }
  const double flops = 2.0 * base.M * base.K * base.N;
  auto report = [&](Row row, double ms, double bytes) {
    row.median_ms = ms;
    row.gbps = bytes / (ms * 1e6);
    row.gflops = flops / (ms * 1e6);
    print_row(row, opt.json);
  };
  auto ours = [&](int i) {
    const Quantized& c = copies[static_cast<std::size_t>(i) % copies.size()];
    quantized_matmul(x, c.wq, c.scales, c.biases, base.transpose, base.group_size, base.bits,
                     base.mode);
  };
  Row row = base;
  row.isa = std::string(active_isa());
  report(row, median_ms_at(base.precision, ours, opt.min_seconds),
         static_cast<double>(weight_bytes));
  row.precision = "exact";

  if (wants(opt.baselines, "reference")) {
    time_reference(row, ours, [&](const Row& r, double ms) {
      report(r, ms, static_cast<double>(weight_bytes));
    });
  }
#if defined(QLINEAR_HAVE_OPENBLAS)
  if (wants(opt.baselines, "dense_f32")) {
    const std::vector<float> xf = x.to_floats();
    std::vector<std::vector<float>> dense = {w.to_floats()};
    const std::size_t dense_bytes = dense[0].size() * sizeof(float);
    if (base.cold) {
      for (int i = 1; i < cold_copies(dense_bytes); ++i) dense.push_back(dense[0]);
    }
    std::vector<float> y(static_cast<std::size_t>(base.M * base.N));
    openblas_set_num_threads(base.threads);
    const auto M = static_cast<int>(base.M), K = static_cast<int>(base.K),
               N = static_cast<int>(base.N);
    auto blas = [&](int i) {
      const float* wd = dense[static_cast<std::size_t>(i) % dense.size()].data();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, base.transpose ? CblasTrans : CblasNoTrans, M, N, K,
                  1.0f, xf.data(), K, wd, base.transpose ? K : N, 0.0f, y.data(), N);
    };
    row.op = "dense_f32";
    row.isa = "openblas";
    row.precision = "-";
    row.mode = "-";
    row.bits = 0;
    row.group_size = 0;
    row.dtype = "float32";
    report(row, median_ms(blas, opt.min_seconds), static_cast<double>(dense_bytes));
  }
#endif
}

// gather_qmm as mlx-lm's SwitchGLU calls it: `tokens` rows of x, each to `top_k` distinct
// experts of `experts` at random; with 64 or more pairs mlx-lm sorts them by expert first
// (the sort is not timed). GB/s counts the weights of the selected experts once per call.
void run_gather(Row base, const Options& opt) {
  const Dtype dtype = parse_dtype_name(base.dtype);
  const Tensor w = random_normal({base.experts, base.N, base.K}, dtype, 1);
  const Quantized q = quantize(w, base.group_size, base.bits, base.mode);
  std::mt19937 rng(3);
  std::vector<std::uint32_t> all(static_cast<std::size_t>(base.experts)), chosen;
  std::iota(all.begin(), all.end(), 0u);
  for (std::int64_t t = 0; t < base.tokens; ++t) {
    std::shuffle(all.begin(), all.end(), rng);
    chosen.insert(chosen.end(), all.begin(), all.begin() + base.top_k);
  }
  const std::int64_t pairs = base.tokens * base.top_k;
  const bool sorted = pairs >= 64;
  Tensor x = random_normal({base.tokens, 1, 1, base.K}, dtype, 2);
  if (sorted) {
    std::vector<std::uint32_t> order(chosen.size());
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::uint32_t a, std::uint32_t b) { return chosen[a] < chosen[b]; });
    Tensor xs = Tensor::zeros({pairs, 1, base.K}, dtype);
    std::vector<std::uint32_t> experts_sorted;
    const std::size_t row = static_cast<std::size_t>(base.K) * size_of(dtype);
    for (std::size_t i = 0; i < order.size(); ++i) {
      std::memcpy(static_cast<char*>(xs.mutable_data()) + i * row,
                  static_cast<const char*>(x.data()) + order[i] / base.top_k * row, row);
      experts_sorted.push_back(chosen[order[i]]);
    }
    x = xs;
    chosen = experts_sorted;
  }
  // Cold: the calls also rotate the experts (each index shifted by a multiple of top_k,
  // modulo the experts) so that every expert of every copy is read in turn.
  std::vector<Tensor> routings;
  const std::int64_t shifts = base.cold ? (base.experts + base.top_k - 1) / base.top_k : 1;
  for (std::int64_t r = 0; r < shifts; ++r) {
    std::vector<std::uint32_t> shifted = chosen;
    for (std::uint32_t& e : shifted)
      e = static_cast<std::uint32_t>((e + r * base.top_k) % base.experts);
    routings.push_back(
        Tensor::from_values<std::uint32_t>(sorted ? Shape{pairs} : Shape{base.tokens, base.top_k},
                                           Dtype::uint32, std::span<const std::uint32_t>(shifted)));
  }
  std::vector<Quantized> copies = {q};
  const std::size_t all_bytes =
      q.wq.nbytes() + q.scales.nbytes() + (q.biases ? q.biases->nbytes() : 0);
  if (base.cold) {
    for (int i = 1; i < cold_copies(all_bytes); ++i) {
      copies.push_back({q.wq.copy(), q.scales.copy(),
                        q.biases ? std::optional(q.biases->copy()) : std::nullopt});
    }
  }
  std::vector<std::uint32_t> used = chosen;
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  const double bytes = static_cast<double>(all_bytes) * used.size() / base.experts;
  auto call = [&](int i) {
    const Quantized& c = copies[static_cast<std::size_t>(i) % copies.size()];
    const Tensor& rhs = routings[static_cast<std::size_t>(i) / copies.size() % routings.size()];
    gather_qmm(x, c.wq, c.scales, c.biases, std::nullopt, rhs, true, base.group_size, base.bits,
               base.mode, sorted && !base.cold);
  };
  auto report = [&](Row row, double ms) {
    row.median_ms = ms;
    row.gbps = bytes / (ms * 1e6);
    row.gflops = 2.0 * pairs * base.K * base.N / (ms * 1e6);
    print_row(row, opt.json);
  };
  Row row = base;
  row.isa = std::string(active_isa());
  report(row, median_ms_at(base.precision, call, opt.min_seconds));
  row.precision = "exact";
  if (wants(opt.baselines, "reference")) time_reference(row, call, report);
}

// One decode step's attention over one layer's quantized KV cache (M = the GQA repeat,
// K = head_dim, N = the context): qlinear's, mlx-lm's call pattern through the batched
// quantized_matmul op (kv_heads x repeat products of one row each), the float cache's
// attention, and the scalar reference. GB/s counts the cache's bytes (the float one's
// for sdpa_f32); cold rotates copies of the cache through twice the last-level cache,
// as a model's layers do.
void run_sdpa(Row base, const Options& opt) {
  const std::int64_t KV = base.kv_heads, R = base.M, D = base.K, T = base.N;
  const Tensor q = random_normal({1, KV * R, 1, D}, Dtype::float32, 1);
  const Tensor k = random_normal({1, KV, T, D}, Dtype::float32, 2);
  const Tensor v = random_normal({1, KV, T, D}, Dtype::float32, 3);
  struct Layer {
    Quantized keys, values;
  };
  const Layer layer{quantize(k, base.group_size, base.bits),
                    quantize(v, base.group_size, base.bits)};
  const std::size_t bytes =
      2 * (layer.keys.wq.nbytes() + layer.keys.scales.nbytes() + layer.keys.biases->nbytes());
  std::vector<Layer> copies = {layer};
  if (base.cold) {
    auto copy = [](const Quantized& t) {
      return Quantized{t.wq.copy(), t.scales.copy(), t.biases->copy()};
    };
    for (int i = 1; i < cold_copies(bytes); ++i)
      copies.push_back({copy(layer.keys), copy(layer.values)});
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  auto report = [&](Row row, double ms, double read) {
    row.median_ms = ms;
    row.gbps = read / (ms * 1e6);
    row.gflops = 4.0 * KV * R * T * D / (ms * 1e6);
    print_row(row, opt.json);
  };
  auto ours = [&](int i) {
    const Layer& c = copies[static_cast<std::size_t>(i) % copies.size()];
    lm::quantized_scaled_dot_product_attention(q, c.keys, c.values, scale, "", base.group_size,
                                               base.bits);
  };
  Row row = base;
  row.isa = std::string(active_isa());
  report(row, median_ms(ours, opt.min_seconds), static_cast<double>(bytes));

  // mlx-lm's shapes: queries (1, KV, R, 1, D) against keys (1, KV, 1, T, ...).
  const Tensor q5 = q.reshape({1, KV, R, 1, D});
  auto batched = [](const Quantized& t) {
    auto add_axis = [](const Tensor& x) { return x.reshape({1, x.dim(1), 1, x.dim(2), x.dim(3)}); };
    return Quantized{add_axis(t.wq), add_axis(t.scales), add_axis(*t.biases)};
  };
  std::vector<Layer> batched_copies;
  for (const Layer& c : copies) batched_copies.push_back({batched(c.keys), batched(c.values)});
  auto mlx_pattern = [&](int i) {
    const Layer& c = batched_copies[static_cast<std::size_t>(i) % batched_copies.size()];
    Tensor scaled = q5.copy();
    for (float& x : std::span(scaled.mutable_data<float>(), scaled.size())) x *= scale;
    const Tensor scores = softmax(quantized_matmul(scaled, c.keys.wq, c.keys.scales, c.keys.biases,
                                                   true, base.group_size, base.bits));
    quantized_matmul(scores, c.values.wq, c.values.scales, c.values.biases, false, base.group_size,
                     base.bits);
  };
  row.op = "qmm_batched";
  report(row, median_ms(mlx_pattern, opt.min_seconds), static_cast<double>(bytes));

  if (wants(opt.baselines, "dense_f32")) {
    std::vector<std::pair<Tensor, Tensor>> floats = {{k, v}};
    if (base.cold) {
      for (int i = 1; i < cold_copies(k.nbytes() * 2); ++i) floats.emplace_back(k.copy(), v.copy());
    }
    auto float_cache = [&](int i) {
      const auto& [fk, fv] = floats[static_cast<std::size_t>(i) % floats.size()];
      scaled_dot_product_attention(q, fk, fv, scale);
    };
    Row float_row = row;
    float_row.op = "sdpa_f32";
    float_row.mode = "-";
    float_row.bits = 0;
    float_row.group_size = 0;
    report(float_row, median_ms(float_cache, opt.min_seconds), 2.0 * k.nbytes());
  }
  if (wants(opt.baselines, "reference")) {
    time_reference(row, ours,
                   [&](const Row& r, double ms) { report(r, ms, static_cast<double>(bytes)); });
  }
}

// quantize: float input bytes per second; dequantize: packed bytes read per second.
void run_quantize_ops(Row base, const Options& opt) {
  const Dtype dtype = parse_dtype_name(base.dtype);
  const Tensor w = random_normal({base.N, base.K}, dtype, 1);
  const Quantized q = quantize(w, base.group_size, base.bits, base.mode);
  Row row = base;
  row.isa = std::string(active_isa());
  row.precision = "-";
  row.M = 0;
  if (base.op == "quantize") {
    const double ms = median_ms([&](int) { quantize(w, base.group_size, base.bits, base.mode); },
                                opt.min_seconds);
    row.median_ms = ms;
    row.gbps = static_cast<double>(w.nbytes()) / (ms * 1e6);
  } else {
    const double ms = median_ms(
        [&](int) { dequantize(q.wq, q.scales, q.biases, base.group_size, base.bits, base.mode); },
        opt.min_seconds);
    row.median_ms = ms;
    row.gbps =
        static_cast<double>(q.wq.nbytes() + q.scales.nbytes() + q.biases->nbytes()) / (ms * 1e6);
  }
  print_row(row, opt.json);
}

// Whether --cold asks for the warm (cold false) or the cold rows.
bool wants_cache_state(const Options& opt, bool cold) {
  return cold ? opt.cold != "off" : opt.cold != "on";
}

void run_sdpa_suite(int threads, const Options& opt) {
  for (int bits : opt.bits.empty() ? std::vector<int>{8, 4} : opt.bits) {
    for (int gs : opt.group_sizes.empty() ? std::vector<int>{64} : opt.group_sizes) {
      for (std::int64_t kv : opt.kv_heads) {
        for (std::int64_t repeat : opt.repeats) {
          for (std::int64_t context : opt.contexts) {
            for (bool cold : {false, true}) {
              if (!wants_cache_state(opt, cold)) continue;
              Row base;
              base.op = "quantized_sdpa";
              base.bits = bits, base.group_size = gs, base.threads = threads;
              base.kv_heads = kv, base.cold = cold;
              base.M = repeat, base.K = opt.k.empty() ? 64 : opt.k.front(), base.N = context;
              run_sdpa(base, opt);
            }
          }
        }
      }
    }
  }
}

void run(const Options& opt) {
  const std::vector<std::pair<std::int64_t, std::int64_t>> suite_shapes = {
      {4096, 4096}, {4096, 14336}, {14336, 4096}};
  std::vector<std::pair<std::int64_t, std::int64_t>> shapes;
  if (opt.k.empty() && opt.n.empty()) {
    shapes = suite_shapes;
  } else {
    for (std::int64_t k : opt.k.empty() ? std::vector<std::int64_t>{4096} : opt.k) {
      for (std::int64_t n : opt.n.empty() ? std::vector<std::int64_t>{4096} : opt.n)
        shapes.emplace_back(k, n);
    }
  }
  std::vector<int> thread_counts = opt.threads;
  if (thread_counts.empty()) {
    set_num_threads(0);
    thread_counts = {1};
    if (num_threads() > 1) thread_counts.push_back(num_threads());
  }
  if (!opt.json) print_header();
  for (int threads : thread_counts) {
    set_num_threads(threads);
    const double read_gbps = wants(opt.baselines, "stream") ? run_stream(threads, opt) : 0.0;
    for (const std::string& op : opt.ops) {
      if (op == "quantized_sdpa") {
        run_sdpa_suite(threads, opt);
        continue;
      }
      for (const std::string& dtype : opt.dtypes) {
        for (const std::string& mode : opt.modes) {
          const ModeTraits& own = traits(parse_quant_mode(mode, "bench"));
          std::vector<int> bit_list = opt.bits;
          if (bit_list.empty()) bit_list.assign(own.bits.begin(), own.bits.end());
          for (int bits : bit_list) {
            // Every group size at the default width, the default group size at the others.
            std::vector<int> sizes = opt.group_sizes;
            if (sizes.empty() && bits == own.default_bits)
              sizes.assign(own.group_sizes.begin(), own.group_sizes.end());
            if (sizes.empty()) sizes = {own.default_group_size};
            for (int gs : sizes) {
              for (auto [K, N] : shapes) {
                Row base;
                base.op = op;
                base.mode = mode;
                base.dtype = dtype;
                base.bits = bits;
                base.group_size = gs;
                base.threads = threads;
                base.read_gbps = read_gbps;
                base.K = K;
                base.N = N;
                base.transpose = opt.transpose;
                if (op == "gather_qmm") {
                  for (std::int64_t e : opt.experts) {
                    for (std::int64_t k : opt.top_k) {
                      for (std::int64_t t : opt.tokens) {
                        base.experts = e;
                        base.top_k = k;
                        base.tokens = t;
                        for (bool cold : {false, true}) {
                          if (!wants_cache_state(opt, cold)) continue;
                          if (cold && opt.cold == "auto" && t > 1) continue;
                          base.cold = cold;
                          for (const std::string& precision : opt.precisions) {
                            base.precision = precision;
                            run_gather(base, opt);
                          }
                        }
                      }
                    }
                  }
                  continue;
                }
                if (op != "quantized_matmul") {
                  run_quantize_ops(base, opt);
                  continue;
                }
                for (std::int64_t M : opt.m) {
                  base.M = M;
                  const bool warm = opt.cold != "on";
                  const bool cold = opt.cold == "on" || (opt.cold == "auto" && M == 1);
                  for (const std::string& precision : opt.precisions) {
                    base.precision = precision;
                    if (warm) {
                      base.cold = false;
                      run_matmul(base, opt);
                    }
                    if (cold) {
                      base.cold = true;
                      run_matmul(base, opt);
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  set_num_threads(0);
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Time the kernels on this machine against memory bandwidth, OpenBLAS and the reference");
  cmd->add_option("--op", opt->ops,
                  "quantized_matmul, gather_qmm, quantized_sdpa, quantize, dequantize")
      ->delimiter(',');
  cmd->add_option("--experts", opt->experts, "gather_qmm: experts in the weight batch (128)")
      ->delimiter(',');
  cmd->add_option("--top-k", opt->top_k, "gather_qmm: experts per token (8)")->delimiter(',');
  cmd->add_option("--tokens", opt->tokens, "gather_qmm: rows of x (1)")->delimiter(',');
  cmd->add_option("--kv-heads", opt->kv_heads, "quantized_sdpa: kv heads (8)")->delimiter(',');
  cmd->add_option("--repeat", opt->repeats, "quantized_sdpa: query heads per kv head (4)")
      ->delimiter(',');
  cmd->add_option("--context", opt->contexts, "quantized_sdpa: cached positions (4096)")
      ->delimiter(',');
  cmd->add_option("--m", opt->m, "rows of x")->delimiter(',');
  cmd->add_option("--k", opt->k,
                  "inner dimension (with --n; default: the suite's shapes; quantized_sdpa: "
                  "head_dim, 64)")
      ->delimiter(',');
  cmd->add_option("--n", opt->n, "output columns")->delimiter(',');
  cmd->add_option("--bits", opt->bits, "bits per weight (default: every width of the mode)")
      ->delimiter(',');
  cmd->add_option(
         "--group-size", opt->group_sizes,
         "group sizes (default: the mode's at every width, all of them at its default width)")
      ->delimiter(',');
  cmd->add_option("--mode", opt->modes, "quantization modes")->delimiter(',');
  cmd->add_option("--dtype", opt->dtypes, "dtype of x, w and the scales")->delimiter(',');
  cmd->add_option("--precision", opt->precisions,
                  "matmul precisions to time: exact (default), bfloat16, int8")
      ->delimiter(',')
      ->check(CLI::IsMember({"exact", "bfloat16", "int8"}));
  cmd->add_option("--threads", opt->threads, "thread counts (default: 1 and all cores)")
      ->delimiter(',');
  cmd->add_option("--cold", opt->cold,
                  "auto (cold rows for M=1 too), on (only cold: weights rotate through more than "
                  "twice the last-level cache), off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  cmd->add_option("--baselines", opt->baselines, "dense_f32, stream, reference, all or none")
      ->delimiter(',');
  cmd->add_flag("--no-transpose{false}", opt->transpose, "x @ W instead of x @ W.T");
  cmd->add_flag("--json", opt->json, "one JSON object per line");
  cmd->add_option("--min-seconds", opt->min_seconds, "time per measurement");
  cmd->callback([opt] { run(*opt); });
}

}  // namespace qlinear::cli
