// A whole file mapped read-only into memory (POSIX mmap).
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string_view>

namespace qlinear::io {

// Unmaps a MappedFile; its type marks memory as mapped by map_file_read_only.
struct Unmap {
  std::size_t size;
  void operator()(const std::byte* start) const;
};

struct MappedFile {
  // Start of the mapping; unmapped when the last copy of this pointer goes away, so
  // tensor views can hold it as their owner.
  std::shared_ptr<const std::byte> data;
  std::size_t size = 0;
};

// Maps a regular file (an empty one maps to nothing). Throws FileError "[operation] PATH:
// reason" if it cannot be opened, is not a regular file or cannot be mapped.
MappedFile map_file_read_only(const std::filesystem::path& path,
                              std::string_view operation = "load_safetensors");

}  // namespace qlinear::io
