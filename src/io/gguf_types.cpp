#include "io/gguf_types.h"

#include <array>
#include <string>

#include "qlinear/gguf.h"

namespace qlinear::io {
namespace {

// Indexed by id; a block size of 0 marks ids ggml has removed (4, 5, 31-33, 36-38).
constexpr std::array<GgmlType, 42> kTypes = {{
    {"F32", 1, 4},        {"F16", 1, 2},       {"Q4_0", 32, 18},     {"Q4_1", 32, 20},
    {"", 0, 0},           {"", 0, 0},          {"Q5_0", 32, 22},     {"Q5_1", 32, 24},
    {"Q8_0", 32, 34},     {"Q8_1", 32, 40},    {"Q2_K", 256, 84},    {"Q3_K", 256, 110},
    {"Q4_K", 256, 144},   {"Q5_K", 256, 176},  {"Q6_K", 256, 210},   {"Q8_K", 256, 292},
    {"IQ2_XXS", 256, 66}, {"IQ2_XS", 256, 74}, {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},
    {"IQ4_NL", 32, 18},   {"IQ3_S", 256, 110}, {"IQ2_S", 256, 82},   {"IQ4_XS", 256, 136},
    {"I8", 1, 1},         {"I16", 1, 2},       {"I32", 1, 4},        {"I64", 1, 8},
    {"F64", 1, 8},        {"IQ1_M", 256, 56},  {"BF16", 1, 2},       {"", 0, 0},
    {"", 0, 0},           {"", 0, 0},          {"TQ1_0", 256, 54},   {"TQ2_0", 256, 66},
    {"", 0, 0},           {"", 0, 0},          {"", 0, 0},           {"MXFP4", 32, 17},
    {"NVFP4", 64, 36},    {"Q1_0", 128, 18},
}};

}  // namespace

const GgmlType* ggml_type(std::uint32_t id) {
  if (id >= kTypes.size() || kTypes[id].block_size == 0) return nullptr;
  return &kTypes[id];
}

}  // namespace qlinear::io

namespace qlinear {

std::string ggml_type_name(std::uint32_t type) {
  const io::GgmlType* known = io::ggml_type(type);
  return known ? std::string(known->name) : "unknown";
}

}  // namespace qlinear
