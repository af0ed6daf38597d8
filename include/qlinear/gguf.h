// GGUF files (llama.cpp's format, versions 2 and 3, little-endian): a strict reader, and
// the import MLX's mx.load does.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "qlinear/io.h"
#include "qlinear/tensor.h"

namespace qlinear {

// The value types of GGUF metadata; the numbers are the file's.
enum class GgufValueType : std::uint32_t {
  uint8 = 0,
  int8 = 1,
  uint16 = 2,
  int16 = 3,
  uint32 = 4,
  int32 = 5,
  float32 = 6,
  bool_ = 7,
  string = 8,
  array = 9,
  uint64 = 10,
  int64 = 11,
  float64 = 12,
};

// One metadata value as the file holds it.
struct GgufValue {
  GgufValueType type = GgufValueType::uint8;
  GgufValueType element_type = GgufValueType::uint8;  // arrays only
  // Numbers and bools: a 0-d tensor for a scalar, a 1-d one for an array of them, in the
  // file's own type (uint64, float64, ... kept).
  Tensor numbers;
  std::vector<std::string> strings;  // a string (one), or an array of strings
  std::vector<GgufValue> elements;   // an array of arrays
};

// A tensor's description in the file. dims are in GGUF order (fastest-varying first).
struct GgufTensorInfo {
  std::string name;
  std::uint32_t type = 0;           // ggml type id (0 F32, 1 F16, 2 Q4_0, ...)
  std::vector<std::uint64_t> dims;  // at most 4
  std::uint64_t offset = 0;         // from the start of the data section
  std::uint64_t nbytes = 0;
  const std::byte* data = nullptr;  // inside the mapping
};

// A whole file, validated. Tensor data stays in the read-only mapping, which lives as
// long as this object or any tensor view made from `mapping`.
struct GgufFile {
  std::uint32_t version = 3;
  std::uint64_t alignment = 32;
  std::vector<std::pair<std::string, GgufValue>> metadata;  // in file order
  std::vector<GgufTensorInfo> tensors;                      // in file order
  std::shared_ptr<const std::byte> mapping;
};

// Maps and validates the whole file before returning: magic, version 2 or 3, every count,
// string length, dimension and offset against the file size with overflow-checked
// arithmetic, known value and tensor types, general.alignment (a uint32 power of two),
// each tensor's first dimension a multiple of its type's block, its offset aligned, its
// bytes inside the data section and not overlapping another's, unique keys and tensor
// names, bools 0 or 1. Throws FileError "[load_gguf] PATH: reason".
GgufFile read_gguf(const std::filesystem::path& path);

// ggml's name of a tensor type ("F32", "Q4_0", "Q4_K", ...), "unknown" for other ids.
std::string ggml_type_name(std::uint32_t type);

// A metadata value as MLX's load_gguf gives it: numbers and bools as a 0-d or 1-d tensor
// (float64 becomes float32), a string, or a list of strings.
using GgufMetadataValue = std::variant<Tensor, std::string, std::vector<std::string>>;

// How load_gguf turned one tensor of the file into arrays.
enum class GgufImportMethod {
  stored,       // the file's own values (F32, F16, I8-I64, F64; BF16 with exact)
  float16,      // converted to float16 as MLX does (BF16; Q2_K, Q4_K, Q6_K dequantized)
  affine,       // affine weights NAME, PREFIX.scales, PREFIX.biases without dequantizing
  dequantized,  // dequantized to float32 (exact only: types affine weights cannot hold)
};

// "stored", "float16", "affine", "dequantized".
std::string_view gguf_import_method_name(GgufImportMethod method);

struct GgufTensorImport {
  std::string name;
  std::string type;  // ggml's type name in the file
  GgufImportMethod method = GgufImportMethod::stored;
  Dtype dtype = Dtype::float32;  // of the values, or of the scales and biases (affine)
  int bits = 0;                  // affine only; the group size is always 32
  // Every value equals the float32 value ggml's dequantization gives for the file's block
  // (for affine weights: scale * code + bias does).
  bool exact = true;
};

struct GgufLoadOptions {
  // false: exactly what mx.load of MLX 0.32.4 returns. true: nothing rounded: BF16, I64
  // and F64 as stored; Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K and Q5_K as affine group-32
  // weights (4, 5 or 8 bits) whose scales and biases are float16 when every one of the
  // tensor's is a float16 exactly, else float32; Q2_K, Q3_K and Q6_K dequantized to
  // float32.
  bool exact = false;
};

struct GgufLoad {
  TensorMap tensors;
  std::map<std::string, GgufMetadataValue> metadata;
  std::vector<GgufTensorImport> report;  // one per tensor of the file, in file order
};

// What mx.load of MLX 0.32.4 returns for a .gguf file: same names, shapes (GGUF's dims
// reversed), dtypes and bytes. F32, F16, I8, I16, I32 tensors are read-only views on the
// mapping (copied when the file's alignment leaves them misaligned); BF16 becomes float16
// (nearest even, NaN as 0x7E00 or 0xFE00 by sign); Q4_0, Q4_1 and Q8_0 become affine group-32
// triples without dequantizing: NAME (uint32, 8 or 4 codes a word), and NAME minus its last 7
// characters (".weight") plus ".scales" and ".biases" (float16; bias -8 * scale for Q4_0,
// -128 * scale for Q8_0 whose codes get their sign bit flipped, the stored min for Q4_1);
// Q2_K, Q4_K and Q6_K are dequantized to float16 as gguflib does it. Every other tensor type
// throws FileError, as in MLX. A nested metadata array throws as MLX does. With
// options.exact, see GgufLoadOptions. The file is validated by read_gguf first.
GgufLoad load_gguf(const std::filesystem::path& path, const GgufLoadOptions& options = {});

// One tensor to write: its ggml type id, dims in GGUF order (fastest-varying first) and
// its blocks.
struct GgufTensorData {
  std::string name;
  std::uint32_t type = 0;
  std::vector<std::uint64_t> dims;
  std::vector<std::byte> bytes;
};

// Writes a GGUF v3 file atomically (the old file, if any, stays whole until the new one is
// complete): the metadata in the order given, the tensors in order at 32-byte alignment.
// Throws std::invalid_argument for a tensor whose bytes do not match its type and dims,
// FileError if the file cannot be written.
void write_gguf(const std::filesystem::path& path,
                const std::vector<std::pair<std::string, GgufValue>>& metadata,
                const std::vector<GgufTensorData>& tensors);

}  // namespace qlinear
