// Converting a model folder, tensor by tensor, as mlx_lm.convert does: quantize
// (uniformly or with a mixed recipe), dequantize, or cast the float weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "qlinear/gguf.h"
#include "qlinear/model.h"

namespace qlinear {

struct ConvertOptions {
  bool quantize = false;               // -q
  std::optional<int> group_size;       // --q-group-size (default: the mode's)
  std::optional<int> bits;             // --q-bits (default: the mode's)
  QuantMode mode = QuantMode::affine;  // --q-mode
  std::optional<std::string> recipe;   // --quant-predicate mixed_2_6 ...
  std::optional<Dtype> dtype;          // --dtype (default: config.json's torch_dtype)
  bool dequantize = false;             // -d
  bool measure_error = false;          // --report: relative error of each quantized layer
  std::uint64_t max_shard_bytes = kDefaultShardBytes;
};

// What happens to one layer: a float "<path>.weight" (to quantize), 2-D or a 3-D stack of
// experts (see is_expert_layer), or a quantized one.
struct LayerPlan {
  std::string path;
  Shape shape;                           // the float weight's ([experts,] output_dims, input_dims)
  Dtype float_dtype = Dtype::float32;    // its float type in the input (the scales' if quantized)
  std::optional<QuantSpec> input_spec;   // the input's settings, if quantized there
  std::optional<QuantSpec> output_spec;  // the output's settings, if quantized there
  std::string skipped;                   // why a layer stays float when quantizing
  std::uint64_t input_bytes = 0;         // the layer's tensors in the input
  std::uint64_t output_bytes = 0;        // ... and in the output
  std::optional<double> relative_error;  // ||W - dequantize(quantize(W))|| / ||W||, --report
};

// One unit of writing: the output tensors made from one input tensor (or, for a
// quantized layer, weight/scales/biases made together, which keeps them aligned).
struct ConvertStep {
  enum class Kind { copy, cast, quantize, dequantize };
  Kind kind = Kind::copy;
  std::string source;     // the input tensor ("<path>.weight" for layers)
  std::size_t layer = 0;  // index into ConversionPlan::layers for layer steps
  std::vector<TensorInfo> outputs;
  std::uint64_t input_bytes = 0;
};

struct ConversionPlan {
  std::filesystem::path input;
  ConvertOptions options;
  std::optional<Dtype> dtype;                      // the cast applied to float tensors
  std::string config;                              // config.json to write
  std::optional<QuantizationConfig> quantization;  // its "quantization" block
  std::vector<LayerPlan> layers;
  std::vector<std::vector<ConvertStep>> shards;    // steps per output file, in write order
  std::vector<std::filesystem::path> other_files;  // copied as they are
  std::uint64_t input_bytes = 0, output_bytes = 0;
  std::uint64_t parameters = 0;  // counted as mlx-lm does

  double bits_per_weight() const;
};

// Reads config.json and the weight headers (no tensor data) and decides everything.
// Throws std::invalid_argument for contradictory options and FileError for a bad folder.
ConversionPlan plan_conversion(const std::filesystem::path& input, const ConvertOptions& options);

struct ConvertProgress {
  std::size_t tensors_done = 0, tensors_total = 0;
  std::uint64_t bytes_done = 0, bytes_total = 0;  // input bytes consumed
};

// Writes the plan's folder at `output`, which must not exist: everything is built in a
// hidden folder beside it and renamed into place at the end, so a failed or interrupted
// run never leaves a folder at `output`. Returns the plan with relative errors filled in
// when options.measure_error.
ConversionPlan run_conversion(ConversionPlan plan, const std::filesystem::path& output,
                              const std::function<void(const ConvertProgress&)>& progress = {});

// --- GGUF -------------------------------------------------------------------------

struct GgufConvertedTensor {
  std::string mlx_name;     // its name in the folder
  GgufTensorImport import;  // how it was imported (GGUF name, type, method, exact)
};

// qlinear convert MODEL.gguf OUT_DIR: an mlx-lm folder from a llama.cpp file of a llama,
// qwen2 or qwen3 model. The tensors are load_gguf's exact import (affine group-32 weights
// for Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q4_K/Q5_K, float for the rest) under mlx-lm's names, a
// llama's q_proj / k_proj rows put back in Hugging Face's order; config.json from the
// metadata, with a "quantization" block: group 32, the most common width, and per-layer
// entries for the other widths and `false` for float layers. add_files (the tokenizer)
// writes into the folder before it is renamed to `output`, which must not exist; nothing
// is left there on failure. Returns one entry per tensor of the file.
std::vector<GgufConvertedTensor> convert_gguf(
    const std::filesystem::path& input, const std::filesystem::path& output,
    const std::function<void(const std::filesystem::path&)>& add_files = {});

struct GgufExportedTensor {
  std::string mlx_name;   // the folder's tensor (a quantized layer's ".weight")
  std::string gguf_name;  // its name in the file
  std::string type;       // the ggml type written
  bool exact = true;      // the file dequantizes to MLX's dequantized values exactly
  double max_error = 0;   // else the largest |GGUF value - MLX value|
};

// qlinear convert MLX_DIR OUT.gguf: an mlx-lm folder of a llama, qwen2 or qwen3 model as a
// llama.cpp file. Affine 4- and 5-bit layers of group 32 or 64 become Q4_1 / Q5_1 blocks
// (a group of 64 two blocks with the same scale and bias), 8-bit ones Q8_0 where every
// bias is -128 * scale; their scales and biases become float16 (exact when they are
// float16s). Other widths, groups and modes are dequantized and rounded to float16; float
// matrices keep their type, vectors become F32. A llama's q_proj / k_proj rows take
// llama.cpp's order. Metadata: the architecture's hyperparameters, and a byte-level BPE
// tokenizer.json as llama.cpp's "gpt2" tokenizer. Written atomically. Returns one entry
// per tensor written.
std::vector<GgufExportedTensor> export_gguf(const std::filesystem::path& folder,
                                            const std::filesystem::path& output);

}  // namespace qlinear
