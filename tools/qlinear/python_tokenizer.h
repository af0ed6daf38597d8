// Text in and out of `qlinear generate` through the Python package: qlinear.lm.cli_tokenizer
// runs Hugging Face transformers' tokenizer for the model folder (no tokenizer is written
// here). The interpreter is $QLINEAR_PYTHON, else python3 on the PATH.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qlinear::cli {

struct EncodedPrompt {
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> eos;  // the tokenizer's end-of-sequence ids
};

// The prompt's ids as mlx_lm.generate makes them (the chat template unless told not to).
// Throws std::runtime_error naming what to install when the package cannot run.
EncodedPrompt encode_prompt(const std::filesystem::path& folder, const std::string& prompt,
                            bool ignore_chat_template,
                            const std::optional<std::string>& system_prompt);

// Prints the text of the tokens fed to it on this process's stdout as they come.
class TextStream {
 public:
  explicit TextStream(const std::filesystem::path& folder);
  ~TextStream();  // waits for the text to be printed
  TextStream(const TextStream&) = delete;
  TextStream& operator=(const TextStream&) = delete;
  void feed(std::int64_t token);

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
};

}  // namespace qlinear::cli
