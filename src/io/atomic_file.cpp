#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>

#include "qlinear/io.h"

namespace qlinear::io {
namespace {

std::filesystem::path folder_of(const std::filesystem::path& target) {
  return target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
}

// ".NAME.tmp.PID.RANDOM": hidden, and unique across processes and threads.
std::filesystem::path temporary_name(const std::filesystem::path& target) {
  thread_local std::mt19937_64 random_bits{std::random_device{}()};
  char suffix[40];
  std::snprintf(suffix, sizeof suffix, ".tmp.%ld.%016llx", static_cast<long>(::getpid()),
                static_cast<unsigned long long>(random_bits()));
  // Stay under the usual 255-byte limit on a file name.
  const std::string name = target.filename().string().substr(0, 200);
  return folder_of(target) / ("." + name + suffix);
}

}  // namespace

void AtomicFile::fail(const std::string& what) const {
  throw FileError("[save_safetensors] " + target_.string() + ": " + what + ": " +
                  std::strerror(errno));
}

AtomicFile::AtomicFile(std::filesystem::path target) : target_(std::move(target)) {
  constexpr int kAttempts = 16;
  for (int attempt = 0; attempt < kAttempts && fd_ < 0; ++attempt) {
    temporary_ = temporary_name(target_);
    fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0 && errno != EEXIST) break;
  }
  if (fd_ < 0) fail("cannot create a temporary file in " + folder_of(target_).string());
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temporary_.c_str());
}

void AtomicFile::write(const void* data, std::size_t size) {
  check_writable();
  // Linux transfers at most about 2 GiB per call.
  constexpr std::size_t kMaxChunk = std::size_t{1} << 30;
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(fd_, bytes, std::min(size, kMaxChunk));
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      failed_ = true;
      if (written == 0) errno = EIO;
      fail("cannot write " + temporary_.string());
    }
    bytes += written;
    size -= static_cast<std::size_t>(written);
  }
}

void AtomicFile::check_writable() const {
  if (failed_ || committed_) {
    throw std::logic_error("[save_safetensors] " + target_.string() +
                           (failed_ ? ": an earlier write failed" : ": already committed"));
  }
}

void AtomicFile::commit() {
  check_writable();
  if (::fsync(fd_) != 0) fail("cannot sync " + temporary_.string());
  const int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0) fail("cannot close " + temporary_.string());
  if (::rename(temporary_.c_str(), target_.c_str()) != 0) {
    fail("cannot rename " + temporary_.string() + " over it");
  }
  committed_ = true;

  // The rename is durable only once the folder's entry is on disk.
  const int folder = ::open(folder_of(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder < 0) fail("saved, but cannot open its folder to sync it");
  const bool synced = ::fsync(folder) == 0 || errno == EINVAL;  // EINVAL: no folder sync here
  const int sync_errno = errno;
  ::close(folder);
  errno = sync_errno;
  if (!synced) fail("saved, but cannot sync its folder");
}

}  // namespace qlinear::io
