#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace qlinear::core {
namespace {

// A waiting thread polls this many times before it sleeps: a wake-up through the
// condition variable costs tens of microseconds, a small matmul not much more.
constexpr int kSpinsBeforeSleep = 4000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

int default_threads() {
  if (const char* env = std::getenv("QLINEAR_NUM_THREADS"); env != nullptr && *env != '\0') {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Set while a thread runs chunks: a parallel_for inside one runs inline.
thread_local bool t_in_parallel_region = false;

class RegionGuard {
 public:
  RegionGuard() : outer_(t_in_parallel_region) { t_in_parallel_region = true; }
  ~RegionGuard() { t_in_parallel_region = outer_; }
  RegionGuard(const RegionGuard&) = delete;
  RegionGuard& operator=(const RegionGuard&) = delete;

 private:
  bool outer_;
};

class Pool {
 public:
  int threads() const { return threads_.load(std::memory_order_relaxed); }
  void set_threads(int n) { threads_.store(n > 0 ? n : default_threads()); }

  void run(std::int64_t count, std::int64_t grain, ChunkFn fn, void* context) {
    if (count <= 0) return;
    grain = std::max<std::int64_t>(grain, 1);
    const std::int64_t chunks = (count + grain - 1) / grain;
    const int helpers = static_cast<int>(std::min<std::int64_t>(threads() - 1, chunks - 1));
    std::unique_lock busy(busy_, std::defer_lock);
    if (helpers <= 0 || t_in_parallel_region || !busy.try_lock()) {
      RegionGuard region;
      for (std::int64_t begin = 0; begin < count; begin += grain) {
        fn(context, begin, std::min(begin + grain, count));
      }
      return;
    }
    while (static_cast<int>(workers_.size()) < helpers) {
      const int index = static_cast<int>(workers_.size());
      workers_.emplace_back([this, index] { work(index); });
    }
    {
      std::lock_guard lock(mutex_);
      job_ = {fn, context, count, grain, chunks, helpers};
      next_chunk_.store(0, std::memory_order_relaxed);
      pending_.store(helpers, std::memory_order_relaxed);
      error_ = nullptr;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    run_chunks(job_);
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < kSpinsBeforeSleep) {
        cpu_relax();
        continue;
      }
      std::unique_lock lock(mutex_);
      done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    if (error_) std::rethrow_exception(error_);
  }

 private:
  struct Job {
    ChunkFn fn = nullptr;
    void* context = nullptr;
    std::int64_t count = 0, grain = 1, chunks = 0;
    int helpers = 0;
  };

  void run_chunks(const Job& job) {
    RegionGuard region;
    for (;;) {
      const std::int64_t chunk = next_chunk_.fetch_add(1, std::memory_order_relaxed);
      if (chunk >= job.chunks) return;
      const std::int64_t begin = chunk * job.grain;
      try {
        job.fn(job.context, begin, std::min(begin + job.grain, job.count));
      } catch (...) {
        std::lock_guard lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }

  // Workers live as long as the process; index decides whether a job needs them.
  [[noreturn]] void work(int index) {
    std::uint64_t seen = 0;
    for (;;) {
      for (int spin = 0; spin < kSpinsBeforeSleep; ++spin) {
        if (generation_.load(std::memory_order_acquire) != seen) break;
        cpu_relax();
      }
      Job job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_relaxed) != seen; });
        seen = generation_.load(std::memory_order_relaxed);
        job = job_;
      }
      if (index >= job.helpers) continue;
      run_chunks(job);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lock(mutex_);
        done_.notify_one();
      }
    }
  }

  std::atomic<int> threads_{default_threads()};
  std::mutex busy_;  // held by the one caller whose job the workers run
  std::vector<std::thread> workers_;

  std::mutex mutex_;  // guards job_, error_ and the condition variables
  std::condition_variable wake_, done_;
  Job job_;
  std::exception_ptr error_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::int64_t> next_chunk_{0};
  std::atomic<int> pending_{0};  // helpers still running the current job
};

// Never destroyed: workers may still be parked when static destructors run.
Pool& pool() {
  static Pool* const instance = new Pool;
  return *instance;
}

}  // namespace

int num_threads() {
  return pool().threads();
}
void set_num_threads(int n) {
  pool().set_threads(n);
}

void parallel_for_chunks(std::int64_t count, std::int64_t grain, ChunkFn fn, void* context) {
  pool().run(count, grain, fn, context);
}

}  // namespace qlinear::core
