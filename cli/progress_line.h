// A long command's progress on stderr ("\rverifying: 1200/5000 versions"), drawn only when stderr
// is a terminal, and again only after another 1 % of the total (or at the end).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <functional>  // std::ref, as callers pass it
#include <iostream>
#include <string>
#include <string_view>

namespace secretfs::cli {

class ProgressLine {
 public:
  // `what`: "verifying"; `unit`: "versions".
  ProgressLine(std::string_view what, std::string_view unit)
      : what_(what), unit_(unit), terminal_(isatty(STDERR_FILENO) != 0) {}

  // A store or audit call's progress callback: std::ref(line).
  void operator()(uint64_t done, uint64_t total) {
    if (!terminal_ || (done != total && done - shown_ < std::max<uint64_t>(total / 100, 1))) return;
    shown_ = done;
    std::cerr << "\r" << what_ << ": " << done << "/" << total << " " << unit_ << std::flush;
  }

  // Ends the line, once one was drawn: before the command prints its outcome.
  void Finish() {
    if (shown_ > 0) std::cerr << "\n";
    shown_ = 0;
  }

 private:
  std::string what_, unit_;
  bool terminal_;
  uint64_t shown_ = 0;
};

}  // namespace secretfs::cli
