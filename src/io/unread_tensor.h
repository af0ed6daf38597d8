// Tensors of a weight file not read yet, for loading that reads only part of them (a
// rank's shard): each is a view without data whose owner names its file and place. Read
// with pread into memory of their own (a read-only view for 1 MiB and more), whole or as
// byte ranges, never through a mapping, so no page of the file becomes resident beyond
// the bytes asked for.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

#include "qlinear/io.h"

namespace qlinear::io {

// An open weight file; counts the tensor bytes read from it into `bytes_read`.
struct OpenFile {
  OpenFile(const std::filesystem::path& path, std::shared_ptr<std::atomic<std::uint64_t>> counter);
  ~OpenFile();
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;

  std::filesystem::path path;
  int fd = -1;
  std::uint64_t size = 0;
  std::shared_ptr<std::atomic<std::uint64_t>> bytes_read;

  // Exactly `length` bytes at `offset` into `to`; a FileError if the file ends first.
  void read(std::uint64_t offset, std::uint64_t length, void* to) const;
};

// The owner's deleter of an unread tensor: where its first byte is. Deletes nothing.
struct UnreadPlace {
  std::shared_ptr<const OpenFile> file;
  std::uint64_t offset = 0;
  void operator()(const void*) const {}
};

struct ByteRange {
  std::uint64_t offset = 0;  // from the tensor's first byte
  std::uint64_t length = 0;
};

// The place of a tensor made by read_safetensors_header, nullptr for a tensor with data.
const UnreadPlace* unread_place(const Tensor& tensor);

// The ranges of the unread tensor at `place`, concatenated into a new tensor of `shape`.
Tensor read_ranges(const UnreadPlace& place, Shape shape, Dtype dtype,
                   std::span<const ByteRange> ranges);

// The tensor itself if it has data, else all of its bytes read.
Tensor read_whole(const Tensor& tensor);

// load_safetensors' checks and errors, reading only the header: every tensor unread.
SafetensorsFile read_safetensors_header(const std::filesystem::path& path,
                                        std::shared_ptr<std::atomic<std::uint64_t>> counter);

}  // namespace qlinear::io
