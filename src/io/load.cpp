#include <cstdint>
#include <functional>
#include <string>

#include "io/header.h"
#include "io/mapped_file.h"
#include "io/unread_tensor.h"
#include "qlinear/io.h"

namespace qlinear {
namespace {

// The limit the reference implementation (huggingface/safetensors) sets on header size.
constexpr std::uint64_t kMaxHeaderLength = 100'000'000;
constexpr std::size_t kLengthFieldSize = 8;

std::uint64_t read_little_endian_u64(const std::byte* bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) value |= std::to_integer<std::uint64_t>(bytes[i]) << (8 * i);
  return value;
}

bool is_aligned(const void* p, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}

// `length` bytes of the file from `offset` (both within the file), valid until the next call.
using ReadBytes = std::function<const std::byte*(std::uint64_t offset, std::uint64_t length)>;

struct CheckedHeader {
  io::Header header;
  std::uint64_t data_start = 0;  // the data section's offset in the file
};

// The length field and the header of a file of `size` bytes, validated against the size
// before any tensor is created; FileError "[load_safetensors] PATH: reason" otherwise.
CheckedHeader checked_header(const std::filesystem::path& path, std::uint64_t size,
                             const ReadBytes& read) {
  const auto error = [&](const std::string& reason) {
    return FileError("[load_safetensors] " + path.string() + ": " + reason);
  };
  if (size < kLengthFieldSize) {
    throw error("file is " + std::to_string(size) +
                " bytes long, shorter than the 8-byte header length");
  }
  const std::uint64_t header_length = read_little_endian_u64(read(0, kLengthFieldSize));
  const std::uint64_t after_length = size - kLengthFieldSize;
  if (header_length == 0) throw error("header length is 0");
  if (header_length > kMaxHeaderLength) {
    throw error("header length " + std::to_string(header_length) + " exceeds the limit of " +
                std::to_string(kMaxHeaderLength) + " bytes");
  }
  if (header_length > after_length) {
    throw error("header length " + std::to_string(header_length) +
                " runs past the end of the file (" + std::to_string(after_length) +
                " bytes after the length)");
  }
  CheckedHeader checked;
  try {
    checked.header = io::parse_header(
        {reinterpret_cast<const char*>(read(kLengthFieldSize, header_length)), header_length},
        after_length - header_length);
  } catch (const io::MalformedHeader& e) {
    throw error(e.what());
  }
  checked.data_start = kLengthFieldSize + header_length;
  return checked;
}

}  // namespace

SafetensorsFile load_safetensors(const std::filesystem::path& path) {
  const io::MappedFile file = io::map_file_read_only(path);
  CheckedHeader checked = checked_header(path, file.size, [&](std::uint64_t offset, std::uint64_t) {
    return file.data.get() + offset;
  });

  // Everything is validated: only now are tensors created.
  const std::byte* data = file.data.get() + checked.data_start;
  SafetensorsFile result{{}, std::move(checked.header.metadata)};
  for (io::TensorEntry& entry : checked.header.tensors) {
    auto& [name, dtype, shape] = entry.info;
    const std::byte* bytes = data + entry.begin;
    result.tensors.emplace(std::move(name),
                           is_aligned(bytes, size_of(dtype))
                               ? Tensor::view(std::move(shape), dtype, bytes, file.data)
                               : Tensor::copy_of(std::move(shape), dtype, bytes));
  }
  return result;
}

namespace io {

SafetensorsFile read_safetensors_header(const std::filesystem::path& path,
                                        std::shared_ptr<std::atomic<std::uint64_t>> counter) {
  auto file = std::make_shared<const OpenFile>(path, std::move(counter));
  std::string buffer;
  CheckedHeader checked =
      checked_header(path, file->size, [&](std::uint64_t offset, std::uint64_t length) {
        buffer.resize(length);
        file->read(offset, length, buffer.data());
        return reinterpret_cast<const std::byte*>(buffer.data());
      });
  SafetensorsFile result{{}, std::move(checked.header.metadata)};
  for (TensorEntry& entry : checked.header.tensors) {
    auto& [name, dtype, shape] = entry.info;
    const UnreadPlace place{file, checked.data_start + entry.begin};
    result.tensors.emplace(std::move(name),
                           Tensor::view(std::move(shape), dtype, nullptr,
                                        std::shared_ptr<const void>(nullptr, place)));
  }
  return result;
}

}  // namespace io
}  // namespace qlinear
