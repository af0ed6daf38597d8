// qlinear inspect FILE: list the tensors and metadata of a safetensors (or GGUF) file.
#include <cstdio>
#include <filesystem>
#include <string>

#include "commands.h"
#include "inspect_gguf.h"
#include "qlinear/io.h"
#include "report.h"

namespace qlinear::cli {
namespace {

void run(const std::string& path) {
  if (std::filesystem::path(path).extension() == ".gguf") return inspect_gguf(path);
  const SafetensorsFile file = load_safetensors(path);
  std::printf("%-48s %-10s %-20s %12s\n", "tensor", "dtype", "shape", "bytes");
  std::uint64_t total = 0;
  for (const auto& [name, tensor] : file.tensors) {
    std::printf("%-48s %-10s %-20s %12s\n", name.c_str(),
                std::string(name_of(tensor.dtype())).c_str(), shape_string(tensor.shape()).c_str(),
                format_bytes(tensor.nbytes()).c_str());
    total += tensor.nbytes();
  }
  std::printf("%zu tensors, %s\n", file.tensors.size(), format_bytes(total).c_str());
  if (!file.metadata.empty()) std::printf("metadata:\n");
  for (const auto& [key, value] : file.metadata) {
    std::printf("  %s: %s\n", key.c_str(), value.c_str());
  }
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd =
      app.add_subcommand("inspect", "List the tensors and metadata of a safetensors or GGUF file");
  cmd->add_option("file", *path, ".safetensors or .gguf file")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->callback([path] { run(*path); });
}

}  // namespace qlinear::cli
