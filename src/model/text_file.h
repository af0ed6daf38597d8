// Whole small text files (config.json, the weight index), read and written.
#pragma once

#include <filesystem>
#include <string>

namespace qlinear::model {

// Throws FileError naming the path if it cannot be read.
std::string read_text_file(const std::filesystem::path& path);
// Writes a temporary file beside `path` and renames it over `path`: readers see the old
// or the new file, never half of one. Throws FileError on failure.
void write_text_file(const std::filesystem::path& path, const std::string& text);

}  // namespace qlinear::model
