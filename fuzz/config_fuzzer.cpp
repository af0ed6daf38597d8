// libFuzzer target: config.json, with its "quantization" block and per-layer entries.
// Parsed settings must survive with_quantization (mlx-lm's save_config) unchanged, and
// load_model of a tiny folder with this config must either load or refuse cleanly.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "qlinear/model.h"
#include "scratch_folder.h"
#include "tiny_model.h"

namespace {

const qlinear::fuzz::ScratchFolder& model_folder() {
  const qlinear::fuzz::ScratchFolder& folder = qlinear::fuzz::scratch();
  static const bool written = [&] {
    qlinear::save_safetensors(folder.path() / "model.safetensors",
                              qlinear::fuzz::tiny_model_weights());
    return true;
  }();
  (void)written;
  return folder;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::optional<qlinear::QuantizationConfig> parsed;
  try {
    parsed = qlinear::parse_quantization(text);
  } catch (const qlinear::FileError&) {
    return 0;
  }
  const std::string saved = qlinear::with_quantization(text, parsed);
  QLINEAR_FUZZ_CHECK(qlinear::parse_quantization(saved) == parsed);

  model_folder().write("config.json", data, size);
  try {
    qlinear::load_model(model_folder().path());
  } catch (const qlinear::FileError&) {
  } catch (const std::invalid_argument&) {
    // Settings that parse but do not fit these layers (e.g. a group size above 64).
  }
  return 0;
}
