// qlinear: quantize, inspect and run MLX-format quantized checkpoints.
#include <exception>
#include <iostream>
#include <vector>

#include "commands.h"

int main(int argc, char** argv) {
  using namespace qlinear::cli;
  CLI::App app{"qlinear: MLX-compatible quantized linear layers"};
  app.require_subcommand(1);
  const std::vector<CommandRegistrar> commands = {
      add_quantize_command, add_dequantize_command, add_inspect_command,  add_bench_command,
      add_convert_command,  add_demo_command,       add_generate_command, add_bench_model_command,
  };
  for (CommandRegistrar add : commands) add(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and version requests succeed; a usage error is one line and exit status 2.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "qlinear: error: " << e.what() << " (see qlinear --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "qlinear: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
