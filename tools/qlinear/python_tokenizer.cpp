#include "python_tokenizer.h"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "python_module.h"

namespace qlinear::cli {
namespace {

constexpr const char* kModule = "qlinear.lm.cli_tokenizer";

const std::string kInstallHint =
    "--prompt needs the qlinear Python package with Hugging Face transformers to tokenize "
    "(pip install /path/to/qlinear transformers, or point QLINEAR_PYTHON at a Python that "
    "has them); or give --prompt-tokens";

}  // namespace

EncodedPrompt encode_prompt(const std::filesystem::path& folder, const std::string& prompt,
                            bool ignore_chat_template,
                            const std::optional<std::string>& system_prompt) {
  std::vector<std::string> args = {"encode", folder.string(), prompt};
  if (ignore_chat_template) args.push_back("--ignore-chat-template");
  if (system_prompt) args.insert(args.end(), {"--system-prompt", *system_prompt});
  const ModuleOutput run = run_python_module(python_interpreter(), kModule, args);
  if (run.status != 0) {
    throw std::runtime_error("[generate] " + std::string(python_interpreter()) +
                             " could not tokenize the prompt (its error is above). " +
                             kInstallHint + ".");
  }
  const auto json = nlohmann::json::parse(run.out);
  return {json.at("ids").get<std::vector<std::int64_t>>(),
          json.at("eos").get<std::vector<std::int64_t>>()};
}

TextStream::TextStream(const std::filesystem::path& folder) {
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("[generate] cannot create a pipe");
  std::fflush(stdout);  // what was printed before comes before the text
  pid_ = spawn_python_module(python_interpreter(), kModule, {"stream", folder.string()}, in[0], -1);
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
