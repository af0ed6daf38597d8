#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "qlinear/io.h"

namespace qlinear::io {
namespace {

[[noreturn]] void fail(std::string_view operation, const std::filesystem::path& path,
                       const std::string& reason) {
  throw FileError("[" + std::string(operation) + "] " + path.string() + ": " + reason);
}

// Closes the descriptor when leaving scope; the mapping does not need it open.
struct FileDescriptor {
  int fd;
  ~FileDescriptor() { ::close(fd); }
};

}  // namespace

MappedFile map_file_read_only(const std::filesystem::path& path, std::string_view operation) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(operation, path, std::string("cannot open: ") + std::strerror(errno));
  const FileDescriptor guard{fd};

  struct stat info {};
  if (::fstat(fd, &info) != 0)
    fail(operation, path, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(info.st_mode)) fail(operation, path, "not a regular file");
  const auto size = static_cast<std::size_t>(info.st_size);
  // mmap refuses length 0; an empty file is too short for a safetensors file anyway.
  if (size == 0) return {};

  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) fail(operation, path, std::string("cannot map: ") + std::strerror(errno));
  return {std::shared_ptr<const std::byte>(static_cast<const std::byte*>(p), Unmap{size}), size};
}

void Unmap::operator()(const std::byte* start) const {
  ::munmap(const_cast<std::byte*>(start), size);
}

}  // namespace qlinear::io

namespace qlinear {

void release_resident_pages(const Tensor& tensor) {
  // MADV_DONTNEED on anonymous memory would zero it: only a read-only file mapping is safe.
  if (!tensor.is_view() || std::get_deleter<io::Unmap>(tensor.owner()) == nullptr) return;
  if (tensor.nbytes() == 0) return;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(tensor.data());
  const std::uintptr_t first = begin / page * page;
  const std::uintptr_t end = (begin + tensor.nbytes() + page - 1) / page * page;
  // The pages straddling the ends may hold neighbouring tensors: they come back on use.
  ::madvise(reinterpret_cast<void*>(first), end - first, MADV_DONTNEED);
}

}  // namespace qlinear
