// Python modules of the qlinear package run by the command line (the tokenizer of
// `qlinear generate --prompt`, mlx-lm's side of `qlinear bench-model`) as child processes.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace qlinear::cli {

// The interpreter that runs them: $QLINEAR_PYTHON, else python3 on the PATH.
const char* python_interpreter();

// Starts `python -m module args...` with the given ends of pipes as its stdin / stdout
// (-1: inherited); its stderr is this process's. Throws std::runtime_error if it cannot fork.
pid_t spawn_python_module(const std::string& python, const std::string& module,
                          const std::vector<std::string>& args, int stdin_fd, int stdout_fd);

// Waits for a child; its exit status, or -1 when it did not exit normally (127: the
// interpreter could not be started).
int wait_for(pid_t pid);

struct ModuleOutput {
  int status = 0;  // as wait_for
  std::string out;
};

// Runs `python -m module args...` to the end and returns what it printed on stdout.
ModuleOutput run_python_module(const std::string& python, const std::string& module,
                               const std::vector<std::string>& args);

}  // namespace qlinear::cli
