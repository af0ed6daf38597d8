#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/reference/reference.h"

namespace qlinear::kernels {
namespace {

constexpr KernelTable kReference{"scalar", reference::quantize, reference::dequantize,
                                 reference::quantized_matmul};

std::vector<const KernelTable*> detect_supported() {
  return {&kReference};
}

const KernelTable& choose_active() {
  const auto tables = supported_tables();
  const char* forced = std::getenv("QLINEAR_ISA");
  if (forced == nullptr || *forced == '\0') return *tables.back();
  for (const KernelTable* t : tables) {
    if (t->isa == forced) return *t;
  }
  std::string names;
  for (const KernelTable* t : tables) names += (names.empty() ? "" : ", ") + std::string(t->isa);
  throw std::invalid_argument("[qlinear] QLINEAR_ISA=" + std::string(forced) +
                              " is not supported on this CPU; supported: " + names);
}

}  // namespace

const KernelTable& reference_table() {
  return kReference;
}

std::span<const KernelTable* const> supported_tables() {
  static const std::vector<const KernelTable*> tables = detect_supported();
  return tables;
}

const KernelTable& active_table() {
  static const KernelTable& table = choose_active();
  return table;
}

}  // namespace qlinear::kernels
