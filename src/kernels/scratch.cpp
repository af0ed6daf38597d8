#include "kernels/scratch.h"

#include <array>
#include <cstdlib>
#include <memory>
#include <new>

namespace qlinear::kernels {
namespace {

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

struct Buffer {
  std::unique_ptr<float, FreeDeleter> data;
  std::size_t capacity = 0;
};

}  // namespace

float* scratch_floats(ScratchSlot slot, std::size_t count) {
  thread_local std::array<Buffer, static_cast<std::size_t>(ScratchSlot::count)> buffers;
  Buffer& b = buffers[static_cast<std::size_t>(slot)];
  if (b.capacity < count) {
    const std::size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
    b.data.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!b.data) throw std::bad_alloc();
    b.capacity = bytes / sizeof(float);
  }
  return b.data.get();
}

}  // namespace qlinear::kernels
