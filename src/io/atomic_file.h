// A file written under a temporary name beside its target and renamed over the target only
// when complete: readers see either the old file or the whole new one, never a mix.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace qlinear::io {

class AtomicFile {
 public:
  // Creates a uniquely named temporary file in the target's folder (mode 0666 less the
  // umask). Throws FileError naming the target if it cannot.
  explicit AtomicFile(std::filesystem::path target);
  // Removes the temporary file unless commit() succeeded.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Appends bytes. Throws FileError on failure; the file then refuses further writes and
  // commit() (std::logic_error), as it does after a commit.
  void write(const void* data, std::size_t size);
  // fsyncs the file, renames it over the target and fsyncs the folder, so that the new
  // file survives a crash. Throws FileError if any step fails.
  void commit();

  const std::filesystem::path& target() const { return target_; }

 private:
  void check_writable() const;
  // Throws FileError naming the target, `what` and errno's description.
  [[noreturn]] void fail(const std::string& what) const;

  std::filesystem::path target_;
  std::filesystem::path temporary_;
  int fd_ = -1;
  bool failed_ = false;
  bool committed_ = false;
};

}  // namespace qlinear::io
