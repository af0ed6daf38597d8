// Running code under each instruction set this CPU supports.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "qlinear/runtime.h"

namespace qlinear::testing {

// Runs fn with the given instruction set (and thread count) active, then restores both.
template <class Fn>
auto with_isa(const std::string& isa, int threads, Fn&& fn) {
  const std::string saved(active_isa());
  set_isa(isa);
  set_num_threads(threads);
  auto result = fn();
  set_isa(saved);
  set_num_threads(0);
  return result;
}

// Whether this CPU runs the named kernel table.
inline bool isa_supported(const std::string& isa) {
  const std::vector<std::string> isas = supported_isas();
  return std::find(isas.begin(), isas.end(), isa) != isas.end();
}

// Every supported instruction set but the scalar reference.
inline std::vector<std::string> fast_isas() {
  std::vector<std::string> isas = supported_isas();
  isas.erase(isas.begin());  // the reference itself
  return isas;
}

}  // namespace qlinear::testing
