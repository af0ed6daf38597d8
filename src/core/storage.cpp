#include "core/storage.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "qlinear/tensor.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace qlinear::core {
namespace {

#if defined(__linux__)
constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kMappedFrom = std::size_t{1} << 20;

// An anonymous mapping aligned to a huge page: map one huge page more than asked, then
// unmap the unaligned head and the tail.
std::shared_ptr<void> map_zeroed(std::size_t nbytes) {
  const std::size_t length = (nbytes + kHugePage - 1) / kHugePage * kHugePage;
  void* raw =
      mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > start) munmap(raw, aligned - start);
  const std::size_t tail = start + kHugePage - aligned;
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + length), tail);
  void* p = reinterpret_cast<void*>(aligned);
  madvise(p, length, MADV_HUGEPAGE);  // a hint: refused or ignored is fine
  return std::shared_ptr<void>(p, [length](void* q) { munmap(q, length); });
}
#endif

}  // namespace

std::shared_ptr<void> allocate_zeroed(std::size_t nbytes) {
#if defined(__linux__)
  if (nbytes >= kMappedFrom) return map_zeroed(nbytes);
#endif
  // Round up: aligned_alloc wants a multiple of the alignment; never ask for 0 bytes.
  const std::size_t rounded = (std::max<std::size_t>(nbytes, 1) + Tensor::kAlignment - 1) /
                              Tensor::kAlignment * Tensor::kAlignment;
  void* p = std::aligned_alloc(Tensor::kAlignment, rounded);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, rounded);
  return std::shared_ptr<void>(p, std::free);
}

}  // namespace qlinear::core
