#include "progress_bar.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "report.h"

namespace qlinear::cli {

ProgressBar::ProgressBar()
    : enabled_(::isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  if (drawn_) std::fputc('\n', stderr);
}

void ProgressBar::update(const ConvertProgress& progress) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool done = progress.tensors_done == progress.tensors_total;
  if (drawn_ && !done && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  drawn_ = true;

  constexpr int kWidth = 30;
  const double fraction =
      progress.bytes_total ? double(progress.bytes_done) / double(progress.bytes_total) : 1.0;
  const int filled = static_cast<int>(fraction * kWidth);
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double rate = seconds > 0 ? double(progress.bytes_done) / seconds : 0.0;
  const double left = rate > 0 ? double(progress.bytes_total - progress.bytes_done) / rate : 0.0;
  std::fprintf(stderr, "\r[%s%s] %zu/%zu tensors  %s/%s  %s/s  %d:%02d left ",
               std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(),
               progress.tensors_done, progress.tensors_total,
               format_bytes(progress.bytes_done).c_str(),
               format_bytes(progress.bytes_total).c_str(),
               format_bytes(static_cast<std::uint64_t>(rate)).c_str(), static_cast<int>(left) / 60,
               static_cast<int>(left) % 60);
  std::fflush(stderr);
}

}  // namespace qlinear::cli
