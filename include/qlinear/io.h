// safetensors files: loading as read-only views on a memory mapping, atomic saving.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "qlinear/tensor.h"

namespace qlinear {

// A file that is missing, unreadable or malformed. what() names the path and the reason.
class FileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

struct SafetensorsFile {
  TensorMap tensors;  // views on the mapping; the mapping lives as long as any of them
  Metadata metadata;  // "__metadata__"; empty if the file has none
};

// Validates the whole header against the file size before any tensor is created; a
// malformed file throws FileError naming the path and the reason.
//
// Every tensor is a read-only view on a private read-only mapping of the file, which
// stays alive as long as any of them does. The format does not promise alignment: a
// tensor whose bytes are not aligned to its element size (possible in files from other
// writers) is the one exception and is copied into owned, aligned storage, so that
// typed access is always valid. Files written here are always aligned (see below).
// The file must not be truncated or rewritten in place while mapped (replacing it, as
// save_safetensors does, is fine).
SafetensorsFile load_safetensors(const std::filesystem::path& path);

// Drops the resident pages of a view on a file mapped by load_safetensors: they count as the
// process's memory until then, and a later read brings them back from the file. Streaming
// once through a folder larger than memory (convert) thus keeps only what is in use resident.
// Does nothing for any other tensor.
void release_resident_pages(const Tensor& tensor);

// Writes the tensors ordered by element size (largest first), then by name, so that every
// tensor's data is aligned to its element size; the header is padded with spaces to a
// multiple of 8 bytes. Built on SafetensorsWriter: atomic, and saving over a loaded file
// is safe (the old views keep the old file's data).
// Throws std::invalid_argument for an undefined tensor or a name of "__metadata__" (before
// touching the disk) and FileError when the file cannot be written.
void save_safetensors(const std::filesystem::path& path, const TensorMap& tensors,
                      const Metadata& metadata = {});

// Name, dtype and shape of one tensor of a file, as its header declares it.
struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::float32;
  Shape shape;
};

// Streams a safetensors file one tensor at a time, so that a converter holds one tensor in
// memory rather than the whole model:
//
//   SafetensorsWriter out(path, {{"a.weight", Dtype::uint32, {64, 8}}, ...}, metadata);
//   out.write("a.weight", wq);  // in the declared order
//   ...
//   out.commit();               // fsync, rename over `path`, fsync the folder
//
// Data offsets follow the declared order with no padding, as the format requires: declare
// tensors with larger elements first to keep every tensor aligned for loaders that map.
// Until commit() the data goes to a temporary file in the same folder; destroying the
// writer before a successful commit removes it and leaves `path` untouched.
class SafetensorsWriter {
 public:
  // Validates the declaration (unique names, not "__metadata__", sizes that fit) and
  // throws std::invalid_argument before creating anything; then creates the temporary
  // file and writes the header (FileError on failure).
  SafetensorsWriter(std::filesystem::path path, std::vector<TensorInfo> tensors,
                    const Metadata& metadata = {});
  ~SafetensorsWriter();
  SafetensorsWriter(SafetensorsWriter&&) noexcept;
  SafetensorsWriter& operator=(SafetensorsWriter&&) noexcept;

  // Appends the next declared tensor. A name out of order or a dtype or shape that differs
  // from the declaration throws std::invalid_argument and writes nothing; a failed write
  // throws FileError (the writer is then unusable and commit() refuses).
  void write(const std::string& name, const Tensor& tensor);
  // Makes the file visible at `path`. Throws std::invalid_argument naming the tensors not
  // yet written, FileError if syncing or renaming fails, std::logic_error if called twice.
  void commit();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace qlinear
