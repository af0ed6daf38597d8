// Many user threads calling the library at once (run under ThreadSanitizer by .ci/run):
// quantize, dequantize, quantized_matmul, gather_qmm, a forward pass through a loaded,
// quantized model's layers and a quantized qwen3_moe language model, while other threads change the
// run-time settings. Every result must equal the serial one bit for bit (or, where a setting
// changes the arithmetic, one of the results each setting gives on its own).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "models/qwen3_moe_fixture.h"
#include "nn/model_fixture.h"
#include "nn/test_util.h"
#include "qlinear/convert.h"
#include "qlinear/lm.h"
#include "qlinear/model.h"
#include "qlinear/nn.h"
#include "qlinear/ops.h"
#include "qlinear/runtime.h"

namespace qlinear {
namespace {

constexpr int kUserThreads = 8;

using Bytes = std::vector<unsigned char>;

Bytes bytes_of(const Tensor& t) {
  const auto* p = static_cast<const unsigned char*>(t.data());
  return Bytes(p, p + t.nbytes());
}

// Restores the settings a test changes.
class SettingsGuard {
 public:
  SettingsGuard() : threads_(num_threads()), isa_(active_isa()), precision_(matmul_precision()) {}
  ~SettingsGuard() {
    set_num_threads(threads_);
    set_isa(isa_);
    set_matmul_precision(precision_);
  }

 private:
  int threads_;
  std::string isa_;
  MatmulPrecision precision_;
};

// The inputs of every operation, shared read-only by all threads.
class Workload {
 public:
  Workload() {
    folder_ = std::filesystem::temp_directory_path() /
              ("qlinear_concurrency_" + std::to_string(::getpid()));
    SyntheticModelShape shape = testing::small_shape();
    shape.blocks = 2;
    shape.dtype = Dtype::float32;
    write_synthetic_model(folder_, shape, 3);
    model_ = load_model(folder_).model;
    nn::quantize(*model_, 32, 4, "affine");
    blocks_ = shape.blocks;
    testing::qwen3_moe::write_qwen3_moe_folder(folder_ / "moe");
    ConvertOptions quantize_experts;
    quantize_experts.quantize = true;
    run_conversion(plan_conversion(folder_ / "moe", quantize_experts), folder_ / "moe-q4");
    moe_ = lm::load(folder_ / "moe-q4").model;
  }
  ~Workload() { std::filesystem::remove_all(folder_); }

  // Quantize, dequantize, matmul and gather_qmm (w as 3 experts) results, each as bytes.
  std::vector<Bytes> ops() const {
    const Quantized q = quantize(w_, 64, 4);
    const Tensor back = dequantize(q.wq, q.scales, q.biases, 64, 4);
    const Tensor y = quantized_matmul(x_, q.wq, q.scales, q.biases, true, 64, 4);
    const Quantized experts = quantize(w_.reshape({3, 64, 256}), 64, 4);
    const Tensor routed = gather_qmm(x_.reshape({5, 1, 1, 256}), experts.wq, experts.scales,
                                     experts.biases, std::nullopt, routes_, true, 64, 4);
    return {bytes_of(q.wq), bytes_of(q.scales), bytes_of(*q.biases),
            bytes_of(back), bytes_of(y),        bytes_of(routed)};
  }

  // Logits of the quantized qwen3_moe model (router, top-k, expert layers) for 20 tokens:
  // 80 token-expert pairs, mlx-lm's sorted path.
  Bytes moe_forward() const {
    std::vector<std::int64_t> tokens(20);
    for (std::size_t i = 0; i < tokens.size(); ++i)
      tokens[i] = static_cast<std::int64_t>(i * 7 % 96);
    return bytes_of((*moe_)(Tensor::from_values<std::int64_t>({1, 20}, Dtype::int64, tokens)));
  }

  // The embedding, then each block's attention and MLP projections chained (a forward
  // through every quantized layer kind the model has; there is no model runner yet), then
  // the head.
  Bytes forward() const {
    const auto layer = [&](const std::string& path) -> const nn::Unary& {
      return dynamic_cast<const nn::Unary&>(std::as_const(*model_).module_at(path));
    };
    Tensor h = layer("model.embed_tokens")(ids_);
    for (std::int64_t b = 0; b < blocks_; ++b) {
      const std::string block = "model.layers." + std::to_string(b);
      h = layer(block + ".self_attn.o_proj")(layer(block + ".self_attn.q_proj")(h));
      h = layer(block + ".mlp.down_proj")(layer(block + ".mlp.up_proj")(h));
    }
    return bytes_of(layer("lm_head")(h));
  }

 private:
  std::filesystem::path folder_;
  std::shared_ptr<nn::Container> model_;
  std::shared_ptr<const lm::Model> moe_;
  std::int64_t blocks_ = 0;
  Tensor w_ = nn::testing::random_floats({192, 256}, 1);
  Tensor x_ = nn::testing::random_floats({5, 256}, 2);
  Tensor routes_ = Tensor::from_values<std::int32_t>(
      {5, 2}, Dtype::int32, std::vector<std::int32_t>{2, 0, 1, 1, 0, 2, 2, 1, 0, 0});
  Tensor ids_ = Tensor::from_values<std::int32_t>({1, 6}, Dtype::int32,
                                                  std::vector<std::int32_t>{0, 5, 17, 42, 95, 3});
};

// The products of Workload::ops() (quantized_matmul, gather_qmm: its last two, whose
// arithmetic the settings change), removed from `results`.
constexpr std::size_t kProducts = 2;
std::vector<Bytes> take_products(std::vector<Bytes>& results) {
  std::vector<Bytes> products(results.end() - kProducts, results.end());
  results.resize(results.size() - kProducts);
  return products;
}

// Runs `work` on kUserThreads threads while `meddle` runs on one more until they finish.
void run_concurrently(const std::function<void(int)>& work,
                      const std::function<void(int)>& meddle) {
  std::atomic<int> running{kUserThreads};
  std::vector<std::thread> threads;
  for (int t = 0; t < kUserThreads; ++t) {
    threads.emplace_back([&, t] {
      work(t);
      running.fetch_sub(1);
    });
  }
  for (int step = 0; running.load() > 0; ++step) {
    meddle(step);
    std::this_thread::yield();
  }
  for (std::thread& t : threads) t.join();
}

TEST(Concurrency, UserThreadsGetTheSerialResultsWhileTheThreadCountChanges) {
  const SettingsGuard restore;
  const Workload workload;
  set_num_threads(1);
  const std::vector<Bytes> serial_ops = workload.ops();
  const Bytes serial_forward = workload.forward();
  const Bytes serial_moe = workload.moe_forward();
  set_num_threads(0);

  constexpr int kRounds = 8;
  std::atomic<int> mismatches{0}, runs{0};
  run_concurrently(
      [&](int) {
        for (int round = 0; round < kRounds; ++round) {
          if (workload.ops() != serial_ops) mismatches.fetch_add(1);
          if (workload.forward() != serial_forward) mismatches.fetch_add(1);
          if (workload.moe_forward() != serial_moe) mismatches.fetch_add(1);
          runs.fetch_add(3);
        }
      },
      [](int step) { set_num_threads(1 + step % 4); });
  EXPECT_EQ(runs.load(), kUserThreads * kRounds * 3);
  EXPECT_EQ(mismatches.load(), 0);
}

// set_isa and set_matmul_precision are safe while work runs: an operation reads each once
// when it starts, so its result is the one some setting gives.
TEST(Concurrency, SettingsChangedWhileWorkRunsGiveTheResultOfOneSetting) {
  const SettingsGuard restore;
  const Workload workload;
  const std::vector<std::string> isas = supported_isas();
  constexpr MatmulPrecision kPrecisions[] = {MatmulPrecision::exact, MatmulPrecision::bfloat16,
                                             MatmulPrecision::int8};
  std::vector<Bytes> quantize_results;  // the same on every instruction set
  // Per product, its result on each instruction set and precision.
  std::vector<std::vector<Bytes>> product_results(kProducts);
  for (const std::string& isa : isas) {
    set_isa(isa);
    for (const MatmulPrecision precision : kPrecisions) {
      set_matmul_precision(precision);
      std::vector<Bytes> results = workload.ops();
      const std::vector<Bytes> products = take_products(results);
      for (std::size_t p = 0; p < kProducts; ++p) product_results[p].push_back(products[p]);
      if (quantize_results.empty()) quantize_results = results;
      ASSERT_EQ(results, quantize_results) << "quantize/dequantize differ on " << isa;
    }
  }

  std::atomic<int> mismatches{0};
  run_concurrently(
      [&](int) {
        for (int round = 0; round < 8; ++round) {
          std::vector<Bytes> results = workload.ops();
          const std::vector<Bytes> products = take_products(results);
          for (std::size_t p = 0; p < kProducts; ++p) {
            const auto& known = product_results[p];
            if (std::find(known.begin(), known.end(), products[p]) == known.end())
              mismatches.fetch_add(1);
          }
          if (results != quantize_results) mismatches.fetch_add(1);
        }
      },
      [&](int step) {
        set_isa(isas[static_cast<std::size_t>(step) % isas.size()]);
        set_matmul_precision(kPrecisions[step % 3]);
        set_num_threads(1 + step % 3);
      });
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace qlinear
