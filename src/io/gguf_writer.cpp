// write_gguf: a GGUF v3 file (little-endian), written atomically.
#include <cstring>
#include <string>

#include "io/atomic_file.h"
#include "io/gguf_types.h"
#include "qlinear/gguf.h"

namespace qlinear {
namespace {

constexpr std::uint64_t kAlignment = 32;  // GGUF's default; general.alignment is not written

class Bytes {
 public:
  template <typename T>
  void put(T value) {
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    out_.insert(out_.end(), p, p + sizeof value);
  }
  void put_bytes(const void* data, std::size_t size) {
    const auto* p = static_cast<const std::byte*>(data);
    out_.insert(out_.end(), p, p + size);
  }
  void put_string(const std::string& text) {
    put<std::uint64_t>(text.size());
    put_bytes(text.data(), text.size());
  }
  void pad_to(std::uint64_t alignment) {
    out_.resize((out_.size() + alignment - 1) / alignment * alignment);
  }
  const std::vector<std::byte>& bytes() const { return out_; }

 private:
  std::vector<std::byte> out_;
};

void put_value(Bytes& out, const GgufValue& value) {
  switch (value.type) {
    case GgufValueType::string:
      return out.put_string(value.strings.front());
    case GgufValueType::array: {
      out.put(static_cast<std::uint32_t>(value.element_type));
      if (value.element_type == GgufValueType::string) {
        out.put<std::uint64_t>(value.strings.size());
        for (const std::string& text : value.strings) out.put_string(text);
      } else if (value.element_type == GgufValueType::array) {
        out.put<std::uint64_t>(value.elements.size());
        for (const GgufValue& element : value.elements) put_value(out, element);
      } else {
        out.put<std::uint64_t>(static_cast<std::uint64_t>(value.numbers.size()));
        out.put_bytes(value.numbers.data(), value.numbers.nbytes());
      }
      return;
    }
    default:  // a number or bool: a 0-d tensor of its type
      return out.put_bytes(value.numbers.data(), value.numbers.nbytes());
  }
}

}  // namespace

void write_gguf(const std::filesystem::path& path,
                const std::vector<std::pair<std::string, GgufValue>>& metadata,
                const std::vector<GgufTensorData>& tensors) {
  Bytes header;
  header.put_bytes("GGUF", 4);
  header.put<std::uint32_t>(3);
  header.put<std::uint64_t>(tensors.size());
  header.put<std::uint64_t>(metadata.size());
  for (const auto& [key, value] : metadata) {
    header.put_string(key);
    header.put(static_cast<std::uint32_t>(value.type));
    put_value(header, value);
  }
  std::uint64_t offset = 0;
  for (const GgufTensorData& tensor : tensors) {
    const io::GgmlType* type = io::ggml_type(tensor.type);
    std::uint64_t values = 1;
    for (std::uint64_t dim : tensor.dims) values *= dim;
    if (!type || tensor.dims.empty() || tensor.dims.size() > 4 ||
        tensor.dims.front() % type->block_size != 0 ||
        values / type->block_size * type->block_bytes != tensor.bytes.size()) {
      throw std::invalid_argument(
          "[write_gguf] tensor '" + tensor.name + "' of type " + ggml_type_name(tensor.type) +
          ": its " + std::to_string(tensor.bytes.size()) + " bytes do not fit its dims");
    }
    header.put_string(tensor.name);
    header.put<std::uint32_t>(static_cast<std::uint32_t>(tensor.dims.size()));
    for (std::uint64_t dim : tensor.dims) header.put(dim);
    header.put(tensor.type);
    header.put(offset);
    offset += (tensor.bytes.size() + kAlignment - 1) / kAlignment * kAlignment;
  }
  header.pad_to(kAlignment);
  io::AtomicFile file(path);
  file.write(header.bytes().data(), header.bytes().size());
  const std::byte zeros[kAlignment] = {};
  for (const GgufTensorData& tensor : tensors) {
    file.write(tensor.bytes.data(), tensor.bytes.size());
    file.write(zeros, (kAlignment - tensor.bytes.size() % kAlignment) % kAlignment);
  }
  file.commit();
}

}  // namespace qlinear
