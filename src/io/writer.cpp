#include <algorithm>
#include <array>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>

#include "io/atomic_file.h"
#include "io/header.h"
#include "qlinear/io.h"

namespace qlinear {
namespace {

std::string in_quotes(const std::string& name) {
  return "'" + name + "'";
}

// Header entries for the tensors laid out back to back in the declared order.
std::vector<io::TensorEntry> lay_out(const std::vector<TensorInfo>& tensors) {
  std::set<std::string_view> names;
  std::vector<io::TensorEntry> entries;
  entries.reserve(tensors.size());
  std::uint64_t offset = 0;
  for (const TensorInfo& info : tensors) {
    if (info.name == "__metadata__") {
      throw std::invalid_argument("[SafetensorsWriter] A tensor may not be named __metadata__");
    }
    if (!names.insert(info.name).second) {
      throw std::invalid_argument("[SafetensorsWriter] Tensor " + in_quotes(info.name) +
                                  " is declared twice");
    }
    // element_count throws for negative or overflowing shapes; the byte size must fit too.
    const auto count = static_cast<std::uint64_t>(element_count(info.shape));
    const auto max_bytes = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (count > (max_bytes - offset) / size_of(info.dtype)) {
      throw std::invalid_argument("[SafetensorsWriter] Tensors up to " + in_quotes(info.name) +
                                  " exceed the largest file size");
    }
    const std::uint64_t end = offset + count * size_of(info.dtype);
    entries.push_back({info, offset, end});
    offset = end;
  }
  return entries;
}

std::array<char, 8> little_endian_u64(std::uint64_t value) {
  std::array<char, 8> bytes{};
  for (std::size_t i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
  return bytes;
}

}  // namespace

struct SafetensorsWriter::State {
  State(std::vector<TensorInfo> declared, std::filesystem::path path)
      : tensors(std::move(declared)), file(std::move(path)) {}

  std::vector<TensorInfo> tensors;
  std::size_t written = 0;  // tensors[0, written) are in the file
  io::AtomicFile file;
};

SafetensorsWriter::SafetensorsWriter(std::filesystem::path path, std::vector<TensorInfo> tensors,
                                     const Metadata& metadata) {
  const std::string header = io::format_header(lay_out(tensors), metadata);
  state_ = std::make_unique<State>(std::move(tensors), std::move(path));
  state_->file.write(little_endian_u64(header.size()).data(), 8);
  state_->file.write(header.data(), header.size());
}

SafetensorsWriter::~SafetensorsWriter() = default;
SafetensorsWriter::SafetensorsWriter(SafetensorsWriter&&) noexcept = default;
SafetensorsWriter& SafetensorsWriter::operator=(SafetensorsWriter&&) noexcept = default;

void SafetensorsWriter::write(const std::string& name, const Tensor& tensor) {
  if (!state_) throw std::logic_error("[SafetensorsWriter::write] The writer was moved from");
  const std::vector<TensorInfo>& declared = state_->tensors;
  if (state_->written == declared.size()) {
    throw std::invalid_argument("[SafetensorsWriter::write] All " +
                                std::to_string(declared.size()) +
                                " declared tensors are written; got " + in_quotes(name));
  }
  const TensorInfo& next = declared[state_->written];
  if (name != next.name) {
    throw std::invalid_argument("[SafetensorsWriter::write] Expected tensor " +
                                in_quotes(next.name) + " next (the declared order), got " +
                                in_quotes(name));
  }
  if (!tensor.defined()) {
    throw std::invalid_argument("[SafetensorsWriter::write] Tensor " + in_quotes(name) +
                                " is undefined");
  }
  if (tensor.dtype() != next.dtype) {
    throw std::invalid_argument("[SafetensorsWriter::write] Tensor " + in_quotes(name) +
                                " was declared " + std::string(name_of(next.dtype)) + ", got " +
                                std::string(name_of(tensor.dtype())));
  }
  if (tensor.shape() != next.shape) {
    throw std::invalid_argument("[SafetensorsWriter::write] Tensor " + in_quotes(name) +
                                " was declared with shape " + shape_string(next.shape) + ", got " +
                                shape_string(tensor.shape()));
  }
  state_->file.write(tensor.data(), tensor.nbytes());
  ++state_->written;
}

void SafetensorsWriter::commit() {
  if (!state_) throw std::logic_error("[SafetensorsWriter::commit] The writer was moved from");
  const std::vector<TensorInfo>& declared = state_->tensors;
  if (state_->written < declared.size()) {
    std::string missing;
    for (std::size_t i = state_->written; i < declared.size(); ++i) {
      missing += (missing.empty() ? "" : ", ") + in_quotes(declared[i].name);
    }
    throw std::invalid_argument("[SafetensorsWriter::commit] " +
                                std::to_string(declared.size() - state_->written) +
                                " declared tensors are not written: " + missing);
  }
  state_->file.commit();
}

void save_safetensors(const std::filesystem::path& path, const TensorMap& tensors,
                      const Metadata& metadata) {
  std::vector<TensorInfo> layout;
  layout.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) {
      throw std::invalid_argument("[save_safetensors] Tensor " + in_quotes(name) + " is undefined");
    }
    layout.push_back({name, tensor.dtype(), tensor.shape()});
  }
  // Larger elements first (then by name, the map's order): with the header padded to 8
  // bytes, every tensor then starts at a multiple of its element size.
  std::stable_sort(layout.begin(), layout.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return size_of(a.dtype) > size_of(b.dtype);
  });
  SafetensorsWriter writer(path, layout, metadata);
  for (const TensorInfo& info : layout) writer.write(info.name, tensors.at(info.name));
  writer.commit();
}

}  // namespace qlinear
