// Runs qlinear's command-line tool as a user would, from a shell, with its stdout and
// stderr captured in files of a scratch folder. The including test target defines
// QLINEAR_CLI, the tool's path (with the emulator in front in a cross build).
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/sanitized.h"

namespace qlinear::testing {

// ThreadSanitizer shadows each byte of the read probe's three 520 MiB arrays several times
// over (a 15 GB peak measured for `qlinear bench --baselines stream`); two such tests at once
// exhaust a 24 GB machine. Tests that run the probe skip under it: they check rows, not
// threads.
inline constexpr bool kProbeTooLargeForSanitizer = kThreadSanitized;

struct CliResult {
  int status;  // the exit status (the shell reports a signal N as 128 + N)
  std::string out, err;
};

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// `env` goes before the command (e.g. "PYTHON=/nonexistent").
inline CliResult run_cli(const std::string& args, const std::filesystem::path& scratch,
                         const std::string& env = "") {
  const std::filesystem::path out = scratch / "stdout", err = scratch / "stderr";
  const std::string command = env + " " + std::string(QLINEAR_CLI) + " " + args + " >" +
                              out.string() + " 2>" + err.string();
  const int raw = std::system(command.c_str());
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, read_text(out), read_text(err)};
}

}  // namespace qlinear::testing
