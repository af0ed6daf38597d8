// Timing and memory-bandwidth measurements shared by `qlinear bench` and `qlinear bench-model`.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace qlinear::cli {

// Median wall time of fn(i) over enough calls to fill min_seconds (at least 3, fewer if
// one call is very slow), after one warm-up call.
double median_ms(const std::function<void(int)>& fn, double min_seconds);

// median_ms with the process's matmul precision set to `precision` ("exact", "bfloat16",
// "int8") while it runs; exact again afterwards.
double median_ms_at(const std::string& precision, const std::function<void(int)>& fn,
                    double min_seconds);

// The last-level cache as sysconf reports it, at least 32 MiB.
std::size_t last_level_cache_bytes();

// Memory bandwidth with `threads` threads, on arrays of `bytes` each (twice the last-level
// cache, at least 520 MiB): "triad" a = b + s*c (3 x bytes moved per pass) and "read", a sum
// over one array with every thread reading its own first-touched slice.
struct StreamRates {
  std::size_t bytes = 0;
  double triad_ms = 0, read_ms = 0;  // medians per pass
  double triad_gbps() const { return 3.0 * static_cast<double>(bytes) / (triad_ms * 1e6); }
  double read_gbps() const { return static_cast<double>(bytes) / (read_ms * 1e6); }
};
StreamRates measure_stream(int threads, double min_seconds);

}  // namespace qlinear::cli
