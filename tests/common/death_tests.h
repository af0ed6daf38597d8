// Death tests in the "threadsafe" style, which start a fresh copy of the test binary.
#pragma once

#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

namespace qlinear::testing {

// Whether this process can start its own binary again. Under qemu user emulation without
// binfmt_misc (the ARM64 cross build's tests) the host kernel cannot execute it, so a
// threadsafe death test could only fail; such tests skip with kCannotReexecute.
inline bool can_reexecute_self() {
  static const bool can = [] {
    char self[] = "/proc/self/exe";
    char list[] = "--gtest_list_tests";
    char none[] = "--gtest_filter=-*";
    char* argv[] = {self, list, none, nullptr};
    pid_t child = 0;
    if (posix_spawn(&child, self, nullptr, nullptr, argv, environ) != 0) return false;
    int status = 0;
    return waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }();
  return can;
}

inline constexpr const char* kCannotReexecute =
    "this host cannot execute the test binary again (qemu user emulation), which a "
    "threadsafe death test needs";

}  // namespace qlinear::testing
