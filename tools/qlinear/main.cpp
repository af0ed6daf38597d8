// qlinear: quantize, inspect and run MLX-format quantized checkpoints.
#include <exception>
#include <iostream>
#include <vector>

#include "commands.h"

int main(int argc, char** argv) {
  using namespace qlinear::cli;
  CLI::App app{"qlinear: MLX-compatible quantized linear layers"};
  app.require_subcommand(1);
  const std::vector<CommandRegistrar> commands = {};
  for (CommandRegistrar add : commands) add(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "qlinear: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
