// copy_weights_into_memory: the mapped weight files' tensors moved into one block of
// the process's own memory.
#include <cstring>

#include "core/storage.h"
#include "io/mapped_file.h"
#include "qlinear/model.h"

namespace qlinear {

void copy_weights_into_memory(nn::Module& model) {
  auto mapped = [](const Tensor& t) {
    return t.is_view() && t.nbytes() > 0 && std::get_deleter<io::Unmap>(t.owner()) != nullptr;
  };
  auto padded = [](std::size_t nbytes) {
    return (nbytes + Tensor::kAlignment - 1) / Tensor::kAlignment * Tensor::kAlignment;
  };
  const nn::NamedParameters parameters = model.parameters();
  std::size_t total = 0;
  for (const auto& [path, value] : parameters)
    if (mapped(value)) total += padded(value.nbytes());
  if (total == 0) return;

  // One block in the tree's order (a block's layers follow one another, as a forward
  // pass reads them): large enough to come in transparent huge pages.
  const std::shared_ptr<void> block = core::allocate_zeroed(total);
  auto* at = static_cast<std::byte*>(block.get());
  TensorMap copies;
  for (const auto& [path, value] : parameters) {
    if (!mapped(value)) continue;
    std::memcpy(at, value.data(), value.nbytes());
    // The file's copy leaves the resident set as this one enters it.
    release_resident_pages(value);
    copies.emplace(path, Tensor::view(value.shape(), value.dtype(), at, block));
    at += padded(value.nbytes());
  }
  model.load_weights(copies, /*strict=*/false);
}

}  // namespace qlinear
