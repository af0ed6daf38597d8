// libFuzzer target: a whole GGUF file through read_gguf and load_gguf (as MLX loads it,
// and exact) from a real file. A file that reads must have every tensor's bytes inside its
// mapping (ASan checks each byte); one that also loads must give tensors whose bytes are
// all readable, and load the same way twice.
#include <cstdint>
#include <cstring>

#include "checksum.h"
#include "qlinear/gguf.h"
#include "scratch_folder.h"

namespace {

using qlinear::fuzz::checksum;
using qlinear::fuzz::scratch;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = scratch().write("input.gguf", data, size);
  qlinear::GgufFile file;
  try {
    file = qlinear::read_gguf(input);
  } catch (const qlinear::FileError&) {
    return 0;  // refused with a reason: the expected outcome for most inputs
  }
  std::uint64_t sum = 0;
  for (const qlinear::GgufTensorInfo& info : file.tensors) sum += checksum(info.data, info.nbytes);
  asm volatile("" : : "r"(sum));  // keep the reads

  for (const bool exact : {false, true}) {
    const qlinear::GgufLoadOptions options{.exact = exact};
    qlinear::GgufLoad loaded;
    try {
      loaded = qlinear::load_gguf(input, options);
    } catch (const qlinear::FileError&) {
      continue;  // a type or nested array this import does not load
    }
    const std::uint64_t first = checksum(loaded.tensors);
    QLINEAR_FUZZ_CHECK(first == checksum(qlinear::load_gguf(input, options).tensors));
  }
  return 0;
}
