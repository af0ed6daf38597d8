// A private folder for one fuzzing process: targets whose parser reads files write each
// input there, so that the bytes go through the same open/map/read code as real files.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace qlinear::fuzz {

class ScratchFolder {
 public:
  ScratchFolder() {
    // tmpfs when there is one: every input is written once, and disks are slow.
    const char* base = std::getenv("QLINEAR_FUZZ_TMPDIR");
    std::filesystem::path root = base ? base : "/dev/shm";
    if (!std::filesystem::is_directory(root)) root = std::filesystem::temp_directory_path();
    path_ = root / ("qlinear-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchFolder(const ScratchFolder&) = delete;
  ScratchFolder& operator=(const ScratchFolder&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Replaces `name` in the folder with exactly these bytes.
  std::filesystem::path write(const std::string& name, const std::uint8_t* data,
                              std::size_t size) const {
    const std::filesystem::path file = path_ / name;
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    if (!out) std::abort();  // the harness itself failed: not a finding
    return file;
  }

 private:
  std::filesystem::path path_;
};

// The process's folder, made on first use.
inline const ScratchFolder& scratch() {
  static const ScratchFolder folder;
  return folder;
}

// A broken invariant of the code under test: crash so that libFuzzer keeps the input.
#define QLINEAR_FUZZ_CHECK(condition)   \
  do {                                  \
    if (!(condition)) __builtin_trap(); \
  } while (0)

}  // namespace qlinear::fuzz
