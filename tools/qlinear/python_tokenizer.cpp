#include "python_tokenizer.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace qlinear::cli {
namespace {

const char* python() {
  const char* chosen = std::getenv("QLINEAR_PYTHON");
  return chosen && *chosen ? chosen : "python3";
}

const std::string kInstallHint =
    "--prompt needs the qlinear Python package with Hugging Face transformers to tokenize "
    "(pip install /path/to/qlinear transformers, or point QLINEAR_PYTHON at a Python that "
    "has them); or give --prompt-tokens";

// Starts `python -m qlinear.lm.cli_tokenizer args...` with the given ends of pipes as its
// stdin / stdout (-1: inherited).
pid_t spawn(const std::vector<std::string>& args, int stdin_fd, int stdout_fd) {
  std::vector<std::string> argv = {python(), "-m", "qlinear.lm.cli_tokenizer"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (std::string& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("[generate] cannot start " + argv[0]);
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

}  // namespace

EncodedPrompt encode_prompt(const std::filesystem::path& folder, const std::string& prompt,
                            bool ignore_chat_template,
                            const std::optional<std::string>& system_prompt) {
  std::vector<std::string> args = {"encode", folder.string(), prompt};
  if (ignore_chat_template) args.push_back("--ignore-chat-template");
  if (system_prompt) args.insert(args.end(), {"--system-prompt", *system_prompt});
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("[generate] cannot create a pipe");
  const pid_t pid = spawn(args, -1, out[1]);
  ::close(out[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  if (wait_for(pid) != 0) {
    throw std::runtime_error("[generate] " + std::string(python()) +
                             " could not tokenize the prompt (its error is above). " +
                             kInstallHint + ".");
  }
  const auto json = nlohmann::json::parse(text);
  return {json.at("ids").get<std::vector<std::int64_t>>(),
          json.at("eos").get<std::vector<std::int64_t>>()};
}

TextStream::TextStream(const std::filesystem::path& folder) {
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("[generate] cannot create a pipe");
  std::fflush(stdout);  // what was printed before comes before the text
  pid_ = spawn({"stream", folder.string()}, in[0], -1);
  ::close(in[0]);
  to_child_ = in[1];
  std::signal(SIGPIPE, SIG_IGN);  // a failed child shows as write errors, not a kill
}

void TextStream::feed(std::int64_t token) {
  const std::string line = std::to_string(token) + "\n";
  if (::write(to_child_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    throw std::runtime_error("[generate] the tokenizer process stopped. " + kInstallHint + ".");
  }
}

TextStream::~TextStream() {
  ::close(to_child_);
  wait_for(pid_);
}

}  // namespace qlinear::cli
