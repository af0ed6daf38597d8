// libFuzzer target: a whole safetensors file (length field, JSON header, data section)
// through load_safetensors from a real file. A file that loads must have every tensor
// readable within its mapping (ASan checks each byte) and must survive save_safetensors
// and a second load unchanged.
#include <cstdint>
#include <cstring>

#include "checksum.h"
#include "qlinear/io.h"
#include "scratch_folder.h"

namespace {

using qlinear::fuzz::checksum;
using qlinear::fuzz::scratch;

bool same(const qlinear::SafetensorsFile& a, const qlinear::SafetensorsFile& b) {
  if (a.metadata != b.metadata || a.tensors.size() != b.tensors.size()) return false;
  for (const auto& [name, tensor] : a.tensors) {
    const auto other = b.tensors.find(name);
    if (other == b.tensors.end()) return false;
    const qlinear::Tensor& t = other->second;
    if (t.dtype() != tensor.dtype() || t.shape() != tensor.shape()) return false;
    if (tensor.nbytes() > 0 && std::memcmp(t.data(), tensor.data(), tensor.nbytes()) != 0) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = scratch().write("input.safetensors", data, size);
  qlinear::SafetensorsFile loaded;
  try {
    loaded = qlinear::load_safetensors(input);
  } catch (const qlinear::FileError&) {
    return 0;  // refused with a reason: the expected outcome for most inputs
  }
  const std::uint64_t sum = checksum(loaded.tensors);
  asm volatile("" : : "r"(sum));  // keep the reads

  const auto copy = scratch().path() / "copy.safetensors";
  qlinear::save_safetensors(copy, loaded.tensors, loaded.metadata);
  QLINEAR_FUZZ_CHECK(same(loaded, qlinear::load_safetensors(copy)));
  return 0;
}
