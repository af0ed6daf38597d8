// A model folder loaded without reading its tensors, for loading that reads only what a
// rank keeps (lm::sharded_load).
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>

#include "qlinear/model.h"

namespace qlinear::model {

// Every weight file's tensors by name, each file given by `load`; a FileError where a
// name is in two files.
TensorMap folder_tensors(const std::filesystem::path& folder,
                         const std::function<SafetensorsFile(const std::filesystem::path&)>& load);

// load_model(folder, strict = true) with the same checks and errors, its parameters left
// unread (io::unread_place: read them with nn's sharding or io::read_whole); the bytes
// read from them later are added to `bytes_read`.
LoadedModel load_model_unread(const std::filesystem::path& folder,
                              std::shared_ptr<std::atomic<std::uint64_t>> bytes_read);

}  // namespace qlinear::model
