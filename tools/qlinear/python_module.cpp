#include "python_module.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace qlinear::cli {

const char* python_interpreter() {
  const char* chosen = std::getenv("QLINEAR_PYTHON");
  return chosen && *chosen ? chosen : "python3";
}

pid_t spawn_python_module(const std::string& python, const std::string& module,
                          const std::vector<std::string>& args, int stdin_fd, int stdout_fd) {
  std::vector<std::string> argv = {python, "-m", module};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (std::string& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("cannot start " + python);
  if (pid == 0) {
    if (stdin_fd >= 0) ::dup2(stdin_fd, STDIN_FILENO);
    if (stdout_fd >= 0) ::dup2(stdout_fd, STDOUT_FILENO);
    ::execvp(raw[0], raw.data());
    ::_exit(127);
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

ModuleOutput run_python_module(const std::string& python, const std::string& module,
                               const std::vector<std::string>& args) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("cannot create a pipe");
  pid_t pid = -1;
  try {
    pid = spawn_python_module(python, module, args, -1, out[1]);
  } catch (...) {
    ::close(out[0]);
    ::close(out[1]);
    throw;
  }
  ::close(out[1]);
  ModuleOutput result;
  char buffer[4096];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    result.out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  result.status = wait_for(pid);
  return result;
}

}  // namespace qlinear::cli
