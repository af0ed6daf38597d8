// Each subcommand of the qlinear tool lives in its own file and registers itself here.
#pragma once

#include <CLI/CLI.hpp>

namespace qlinear::cli {

// Adds a subcommand to `app`; its callback runs the command and throws on failure.
using CommandRegistrar = void (*)(CLI::App& app);

void add_quantize_command(CLI::App& app);
void add_dequantize_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_bench_model_command(CLI::App& app);

}  // namespace qlinear::cli
