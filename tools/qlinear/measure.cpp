#include "measure.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "qlinear/runtime.h"

namespace qlinear::cli {
namespace {

// Runs body(begin, end) on `threads` threads over [0, n), the calling thread included, one
// contiguous slice each (the same slices every time, so each thread reads pages it touched
// first).
void on_threads(int threads, std::size_t n,
                const std::function<void(std::size_t, std::size_t)>& body) {
  std::vector<std::thread> helpers;
  for (int t = 1; t < threads; ++t)
    helpers.emplace_back([&, t] { body(n * t / threads, n * (t + 1) / threads); });
  body(0, n / threads);
  for (auto& h : helpers) h.join();
}

// The sum of words [lo, hi) of p, eight independent 64-bit sums per 64-byte line so that
// the loads, not the additions, set the pace, with or without vector instructions.
std::uint64_t read_words(const std::uint64_t* p, std::size_t lo, std::size_t hi) {
  std::uint64_t s[8] = {};
  std::size_t i = lo;
  for (; i + 8 <= hi; i += 8) {
    for (int j = 0; j < 8; ++j) s[j] += p[i + j];
  }
  for (; i < hi; ++i) s[0] += p[i];
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

}  // namespace

double median_ms(const std::function<void(int)>& fn, double min_seconds) {
  using clock = std::chrono::steady_clock;
  fn(0);
  std::vector<double> ms;
  const auto start = clock::now();
  for (int i = 1;; ++i) {
    const auto t0 = clock::now();
    fn(i);
    ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
    const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
    if ((ms.size() >= 3 && elapsed >= min_seconds) || elapsed > 10 * min_seconds + 5) break;
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

double median_ms_at(const std::string& precision, const std::function<void(int)>& fn,
                    double min_seconds) {
  set_matmul_precision(parse_matmul_precision(precision));
  const double ms = median_ms(fn, min_seconds);
  set_matmul_precision(MatmulPrecision::exact);
  return ms;
}

std::size_t last_level_cache_bytes() {
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  return static_cast<std::size_t>(std::max<long>(l3, 32L << 20));
}

StreamRates measure_stream(int threads, double min_seconds) {
  StreamRates rates;
  rates.bytes = std::max<std::size_t>(2 * last_level_cache_bytes(), 520u << 20);
  const std::size_t n = rates.bytes / sizeof(float);
  std::unique_ptr<float[]> a(new float[n]), b(new float[n]), c(new float[n]);
  on_threads(threads, n, [&](std::size_t lo, std::size_t hi) {
    std::fill(a.get() + lo, a.get() + hi, 1.0f);
    std::fill(b.get() + lo, b.get() + hi, 2.0f);
    std::fill(c.get() + lo, c.get() + hi, 3.0f);
  });
  rates.triad_ms = median_ms(
      [&](int) {
        on_threads(threads, n, [&](std::size_t lo, std::size_t hi) {
          for (std::size_t i = lo; i < hi; ++i) a[i] = b[i] + 3.0f * c[i];
        });
      },
      min_seconds);
  const auto* words = reinterpret_cast<const std::uint64_t*>(b.get());
  const std::size_t n_words = rates.bytes / sizeof(std::uint64_t);
  std::atomic<std::uint64_t> sink{0};
  rates.read_ms = median_ms(
      [&](int) {
        on_threads(threads, n_words,
                   [&](std::size_t lo, std::size_t hi) { sink += read_words(words, lo, hi); });
      },
      min_seconds);
  return rates;
}

}  // namespace qlinear::cli
