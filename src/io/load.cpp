#include <cstdint>
#include <string>

#include "io/header.h"
#include "io/mapped_file.h"
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

}  // namespace

SafetensorsFile load_safetensors(const std::filesystem::path& path) {
  const auto error = [&](const std::string& reason) {
    return FileError("[load_safetensors] " + path.string() + ": " + reason);
  };
  const io::MappedFile file = io::map_file_read_only(path);
  if (file.size < kLengthFieldSize) {
    throw error("file is " + std::to_string(file.size) +
                " bytes long, shorter than the 8-byte header length");
  }
  const std::uint64_t header_length = read_little_endian_u64(file.data.get());
  const std::uint64_t after_length = file.size - kLengthFieldSize;
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

  const std::byte* header_start = file.data.get() + kLengthFieldSize;
  io::Header header;
  try {
    header = io::parse_header({reinterpret_cast<const char*>(header_start), header_length},
                              after_length - header_length);
  } catch (const io::MalformedHeader& e) {
    throw error(e.what());
  }

  // Everything is validated: only now are tensors created.
  const std::byte* data = header_start + header_length;
  SafetensorsFile result{{}, std::move(header.metadata)};
  for (io::TensorEntry& entry : header.tensors) {
    auto& [name, dtype, shape] = entry.info;
    const std::byte* bytes = data + entry.begin;
    result.tensors.emplace(std::move(name),
                           is_aligned(bytes, size_of(dtype))
                               ? Tensor::view(std::move(shape), dtype, bytes, file.data)
                               : Tensor::copy_of(std::move(shape), dtype, bytes));
  }
  return result;
}

}  // namespace qlinear
