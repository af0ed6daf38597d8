// The small float Llama folder the command-line tests generate from (4 heads, 2 key-value
// heads), in a scratch folder of this process.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "qlinear/model.h"

namespace qlinear::testing {

// A fresh scratch folder named after `name` and this process (ctest runs tests in
// parallel processes, mpirun ranks on one machine), holding the model in "llama".
inline std::filesystem::path write_cli_llama(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  write_synthetic_model(dir / "llama",
                        {.hidden = 64,
                         .intermediate = 128,
                         .vocab = 256,
                         .blocks = 2,
                         .heads = 4,
                         .kv_heads = 2,
                         .dtype = Dtype::float32},
                        5);
  return dir;
}

}  // namespace qlinear::testing
