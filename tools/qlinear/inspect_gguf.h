// qlinear inspect X.gguf (the inspect command dispatches on the extension).
#pragma once

#include <string>

namespace qlinear::cli {

// Prints the file's version, metadata and tensors (type, MLX shape, bytes) and the totals
// per type. Throws FileError for a file read_gguf refuses.
void inspect_gguf(const std::string& path);

}  // namespace qlinear::cli
