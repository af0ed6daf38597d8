// libFuzzer target: model.safetensors.index.json, read by weight_files and
// load_folder_weights in a folder holding two real shards. Whatever the index says, only
// the folder's own shards may be read, and a load yields exactly their tensors.
#include <cstdint>
#include <set>
#include <string>

#include "qlinear/model.h"
#include "scratch_folder.h"
#include "tiny_model.h"

namespace {

const qlinear::fuzz::ScratchFolder& model_folder() {
  const qlinear::fuzz::ScratchFolder& folder = qlinear::fuzz::scratch();
  static const bool written = [&] {
    qlinear::save_folder_weights(folder.path(), qlinear::fuzz::tiny_model_weights(), 0,
                                 /*max_shard_bytes=*/16 * 1024);
    return true;
  }();
  (void)written;
  return folder;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& folder = model_folder();
  folder.write("model.safetensors.index.json", data, size);
  try {
    for (const auto& file : qlinear::weight_files(folder.path())) {
      QLINEAR_FUZZ_CHECK(file.parent_path() == folder.path());
    }
    const qlinear::TensorMap tensors = qlinear::load_folder_weights(folder.path());
    const qlinear::TensorMap all = qlinear::fuzz::tiny_model_weights();
    for (const auto& [name, tensor] : tensors) QLINEAR_FUZZ_CHECK(all.contains(name));
  } catch (const qlinear::FileError&) {
  }
  return 0;
}
