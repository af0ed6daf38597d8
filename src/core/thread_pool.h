// One persistent pool of worker threads and a parallel-for over index ranges.
//
// Work is handed out in chunks from an atomic counter (as ggml does), so a chunk's
// result never depends on which thread ran it or how many threads there are: kernels
// that give every output element to exactly one chunk are bit-identical for any thread
// count. A call made while the pool is busy (from another user thread, or nested inside
// a parallel region) runs on the calling thread instead of waiting.
#pragma once

#include <cstdint>
#include <type_traits>

namespace qlinear::core {

// Threads the next parallel_for may use, the caller included (at least 1).
int num_threads();
// n <= 0 restores the default: QLINEAR_NUM_THREADS if set, else the number of cores.
void set_num_threads(int n);

using ChunkFn = void (*)(void* context, std::int64_t begin, std::int64_t end);

// Calls fn(context, begin, end) over [0, count) in chunks of `grain` indices (the last
// one shorter); returns when all have run. The first exception thrown is rethrown here.
void parallel_for_chunks(std::int64_t count, std::int64_t grain, ChunkFn fn, void* context);

template <class Body>
void parallel_for(std::int64_t count, std::int64_t grain, Body&& body) {
  using B = std::remove_reference_t<Body>;
  parallel_for_chunks(
      count, grain,
      [](void* context, std::int64_t begin, std::int64_t end) {
        (*static_cast<B*>(context))(begin, end);
      },
      const_cast<void*>(static_cast<const void*>(&body)));
}

}  // namespace qlinear::core
