// ggml's mul_mat and mul_mat_id on its best CPU path, as the baseline of `qlinear bench`
// (issues 12 and 15). The
// weights go into the first of the CPU device's extra buffer types whose kernels take the
// op (the repack types: q4_0 as 8x8 interleaved blocks, q4_K, mxfp4 ...), as llama.cpp
// places a model's weights, else into the plain CPU buffer; x is float32 and ggml
// quantizes it to its dot type inside mul_mat, as in a model. Built against ggml by
// build_ggml.sh; never part of qlinear.
//
//   ggml_mul_mat_bench --types q4_0,q4_K,q8_0,mxfp4 --m 1,8 --k 4096 --n 14336
//                      --threads 1,2 [--cold 1] [--min-seconds 0.5] [--bufts CPU_REPACK]
//                      [--experts 128 --top-k 8]
//
// With --experts E the case is MUL_MAT_ID as a mixture-of-experts layer runs it, the op of
// qlinear's gather_qmm: E weight matrices, M tokens each routed to top-k distinct experts at
// random, one x row per token shared by its experts (as mlx-lm's SwitchGLU gate/up).
//
// Prints one line per case: type, buffer type, M K N, threads, cold/warm, median ms, GB/s of
// the weight bytes read (ggml's row size x N, of the experts used), GFLOP/s. Cold: the calls rotate
// through copies of the weights totalling twice the last-level cache (at least 520 MiB), as qlinear
// bench's cold rows do, so that each call reads them from memory.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

ggml_type parse_type(const std::string& name) {
  for (int t = 0; t < GGML_TYPE_COUNT; ++t) {
    const char* n = ggml_type_name(static_cast<ggml_type>(t));
    if (n && name == n) return static_cast<ggml_type>(t);
  }
  std::fprintf(stderr, "unknown ggml type %s\n", name.c_str());
  std::exit(2);
}

struct Case {
  ggml_type type;
  int64_t M, K, N;
  int threads;
  bool cold;
  int64_t experts = 0, top_k = 0;  // MUL_MAT_ID when experts > 0
};

// Each of `tokens` rows picks `top_k` distinct experts at random: ids[t * top_k + j].
std::vector<int32_t> route(int64_t tokens, int64_t experts, int64_t top_k, std::mt19937& rng) {
  std::vector<int32_t> all(static_cast<size_t>(experts)), ids;
  for (int64_t e = 0; e < experts; ++e) all[static_cast<size_t>(e)] = static_cast<int32_t>(e);
  for (int64_t t = 0; t < tokens; ++t) {
    std::shuffle(all.begin(), all.end(), rng);
    ids.insert(ids.end(), all.begin(), all.begin() + top_k);
  }
  return ids;
}

// One weight copy: its own context, buffer and graph y = w x.
struct Copy {
  ggml_context* ctx = nullptr;
  ggml_backend_buffer_t weights = nullptr, rest = nullptr;
  ggml_cgraph* graph = nullptr;
};

void run(const Case& c, ggml_backend_t backend, ggml_backend_dev_t dev,
         const std::vector<ggml_backend_buffer_type_t>& bufts, double min_seconds) {
  // Quantize the same random normal weights once.
  const bool moe = c.experts > 0;
  const int64_t matrices = moe ? c.experts : 1;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  std::vector<float> w(static_cast<size_t>(matrices * c.N * c.K)),
      x(static_cast<size_t>(c.M * c.K));
  for (float& v : w) v = normal(rng);
  for (float& v : x) v = normal(rng);
  const size_t row_bytes = ggml_row_size(c.type, c.K);
  std::vector<uint8_t> q(row_bytes * c.N * matrices);
  ggml_quantize_chunk(c.type, w.data(), q.data(), 0, c.N * matrices, c.K, nullptr);
  const std::vector<int32_t> ids =
      moe ? route(c.M, c.experts, c.top_k, rng) : std::vector<int32_t>{};
  std::vector<int32_t> used = ids;
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  const double weight_bytes = static_cast<double>(q.size());
  const double bytes_read = moe ? weight_bytes * used.size() / c.experts : weight_bytes;
  // As qlinear bench: copies totalling twice the last-level cache (at least 520 MiB).
  const double rotate =
      std::max(2.0 * static_cast<double>(sysconf(_SC_LEVEL3_CACHE_SIZE)), 520.0 * (1 << 20));
  const int copies = c.cold ? static_cast<int>(rotate / weight_bytes) + 2 : 1;

  const char* placed = "?";
  std::vector<Copy> all(copies);
  for (Copy& cp : all) {
    ggml_init_params params = {8 * ggml_tensor_overhead() + ggml_graph_overhead(), nullptr, true};
    cp.ctx = ggml_init(params);
    ggml_tensor* wt = moe ? ggml_new_tensor_3d(cp.ctx, c.type, c.K, c.N, c.experts)
                          : ggml_new_tensor_2d(cp.ctx, c.type, c.K, c.N);
    ggml_tensor* xt = moe ? ggml_new_tensor_3d(cp.ctx, GGML_TYPE_F32, c.K, 1, c.M)
                          : ggml_new_tensor_2d(cp.ctx, GGML_TYPE_F32, c.K, c.M);
    ggml_tensor* it = moe ? ggml_new_tensor_2d(cp.ctx, GGML_TYPE_I32, c.top_k, c.M) : nullptr;
    ggml_tensor* y = moe ? ggml_mul_mat_id(cp.ctx, wt, xt, it) : ggml_mul_mat(cp.ctx, wt, xt);
    // The weights in the first extra buffer type that takes this op, as llama.cpp does.
    for (ggml_backend_buffer_type_t buft : bufts) {
      cp.weights = ggml_backend_buft_alloc_buffer(buft, ggml_backend_buft_get_alloc_size(buft, wt));
      ggml_backend_tensor_alloc(cp.weights, wt,
                                static_cast<char*>(ggml_backend_buffer_get_base(cp.weights)));
      if (ggml_backend_dev_supports_op(dev, y)) {
        placed = ggml_backend_buft_name(buft);
        break;
      }
      wt->buffer = nullptr;
      wt->data = nullptr;
      ggml_backend_buffer_free(cp.weights);
      cp.weights = nullptr;
    }
    if (!cp.weights) {
      cp.weights = ggml_backend_alloc_ctx_tensors_from_buft(cp.ctx, ggml_backend_cpu_buffer_type());
      placed = ggml_backend_buft_name(ggml_backend_cpu_buffer_type());
    } else {
      cp.rest = ggml_backend_alloc_ctx_tensors_from_buft(cp.ctx, ggml_backend_cpu_buffer_type());
    }
    ggml_backend_buffer_set_usage(cp.weights, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    ggml_backend_tensor_set(wt, q.data(), 0, q.size());  // repacks where the type does
    ggml_backend_tensor_set(xt, x.data(), 0, x.size() * sizeof(float));
    if (it) ggml_backend_tensor_set(it, ids.data(), 0, ids.size() * sizeof(int32_t));
    cp.graph = ggml_new_graph(cp.ctx);
    ggml_build_forward_expand(cp.graph, y);
  }

  ggml_backend_cpu_set_n_threads(backend, c.threads);
  using clock = std::chrono::steady_clock;
  ggml_backend_graph_compute(backend, all[0].graph);  // warm-up
  std::vector<double> ms;
  const auto start = clock::now();
  for (int i = 1;; ++i) {
    const auto t0 = clock::now();
    ggml_backend_graph_compute(backend, all[i % copies].graph);
    ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
    const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
    if ((ms.size() >= 5 && elapsed >= min_seconds) || elapsed > 10 * min_seconds + 5) break;
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  const double median = ms[ms.size() / 2];
  const int64_t rows = moe ? c.M * c.top_k : c.M;  // products of one x row and one matrix
  std::printf(
      "ggml %-6s %-12s %s M=%-4lld K=%-6lld N=%-6lld thr=%d %s  median_ms %9.3f  GB/s %6.1f  "
      "GFLOP/s %7.1f\n",
      ggml_type_name(c.type), placed, moe ? "mul_mat_id" : "mul_mat", static_cast<long long>(c.M),
      static_cast<long long>(c.K), static_cast<long long>(c.N), c.threads, c.cold ? "cold" : "warm",
      median, bytes_read / (median * 1e6), 2.0 * rows * c.K * c.N / (median * 1e6));
  std::fflush(stdout);
  for (Copy& cp : all) {
    ggml_backend_buffer_free(cp.weights);
    if (cp.rest) ggml_backend_buffer_free(cp.rest);
    ggml_free(cp.ctx);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> types = {"q4_0", "q4_K", "q8_0", "mxfp4"};
  std::vector<std::string> ms = {"1"}, ks = {"4096"}, ns = {"14336"}, threads = {"1", "2"};
  bool cold = true;
  // ggml's AMX buffer type (built where the CPU has AMX) stops with SIGILL at M=8 on the
  // development machine (tilezero before any tile configuration), so by default only the
  // repack type is tried; --bufts AMX,CPU_REPACK restores llama.cpp's order.
  std::vector<std::string> allowed = {"CPU_REPACK"};
  double min_seconds = 0.5;
  int64_t experts = 0, top_k = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--types")
      types = split(value);
    else if (flag == "--m")
      ms = split(value);
    else if (flag == "--k")
      ks = split(value);
    else if (flag == "--n")
      ns = split(value);
    else if (flag == "--threads")
      threads = split(value);
    else if (flag == "--cold")
      cold = value != "0";
    else if (flag == "--bufts")
      allowed = split(value);
    else if (flag == "--min-seconds")
      min_seconds = std::atof(value.c_str());
    else if (flag == "--experts")
      experts = std::atoll(value.c_str());
    else if (flag == "--top-k")
      top_k = std::atoll(value.c_str());
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  ggml_backend_t backend = ggml_backend_cpu_init();
  ggml_backend_dev_t dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
  std::vector<ggml_backend_buffer_type_t> bufts;
  auto get_extra =
      reinterpret_cast<ggml_backend_dev_get_extra_bufts_t>(ggml_backend_reg_get_proc_address(
          ggml_backend_dev_backend_reg(dev), "ggml_backend_dev_get_extra_bufts"));
  if (get_extra) {
    for (const std::string& name : allowed) {
      for (ggml_backend_buffer_type_t* b = get_extra(dev); b && *b; ++b) {
        if (name == ggml_backend_buft_name(*b)) bufts.push_back(*b);
      }
    }
  }
  for (const std::string& t : threads) {
    for (const std::string& type : types) {
      for (const std::string& k : ks) {
        for (const std::string& n : ns) {
          for (const std::string& m : ms) {
            run({parse_type(type), std::atoll(m.c_str()), std::atoll(k.c_str()),
                 std::atoll(n.c_str()), std::atoi(t.c_str()), cold, experts, top_k},
                backend, dev, bufts, min_seconds);
          }
        }
      }
    }
  }
  ggml_backend_free(backend);
  return 0;
}
