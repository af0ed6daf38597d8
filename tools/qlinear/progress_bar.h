// A one-line progress bar on stderr, drawn only when stderr is a terminal.
#pragma once

#include <chrono>
#include <cstdint>

#include "qlinear/convert.h"

namespace qlinear::cli {

class ProgressBar {
 public:
  ProgressBar();
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Redraws (at most ten times a second, and always at the end):
  // [#########...........]  12/345 tensors  1.20/3.40 GiB  150.3 MiB/s  0:14 left
  void update(const ConvertProgress& progress);

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace qlinear::cli
