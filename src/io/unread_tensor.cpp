#include "io/unread_tensor.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <new>
#include <string>

namespace qlinear::io {
namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& reason) {
  throw FileError("[load_safetensors] " + path.string() + ": " + reason);
}

// Tensor::zeros gives blocks of 1 MiB and more whole 2 MiB huge pages, up to 2 MiB more
// than a tensor read from a file needs (a rank's shards are often a few MiB each): those
// get their own mapping of 4 KiB pages instead, as a mapping of the file would take.
constexpr std::size_t kOwnMappingFrom = std::size_t{1} << 20;

// A tensor of `shape` whose bytes `fill` writes.
Tensor filled(Shape shape, Dtype dtype, const std::function<void(char*)>& fill) {
  const std::size_t nbytes = static_cast<std::size_t>(element_count(shape)) * size_of(dtype);
  if (nbytes < kOwnMappingFrom) {
    Tensor t = Tensor::zeros(std::move(shape), dtype);
    fill(static_cast<char*>(t.mutable_data()));
    return t;
  }
  void* p = ::mmap(nullptr, nbytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  std::shared_ptr<void> memory(p, [nbytes](void* q) { ::munmap(q, nbytes); });
  fill(static_cast<char*>(p));
  return Tensor::view(std::move(shape), dtype, p, std::move(memory));
}

}  // namespace

OpenFile::OpenFile(const std::filesystem::path& file_path,
                   std::shared_ptr<std::atomic<std::uint64_t>> counter)
    : path(file_path), bytes_read(std::move(counter)) {
  fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  size = static_cast<std::uint64_t>(info.st_size);
}

OpenFile::~OpenFile() {
  ::close(fd);
}

void OpenFile::read(std::uint64_t offset, std::uint64_t length, void* to) const {
  auto* out = static_cast<char*>(to);
  while (length > 0) {
    const ::ssize_t got = ::pread(fd, out, length, static_cast<::off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail(path, std::string("cannot read: ") + std::strerror(errno));
    if (got == 0)
      fail(path, "the file ends at byte " + std::to_string(offset) +
                     ", before the data its header describes");
    out += got;
    offset += static_cast<std::uint64_t>(got);
    length -= static_cast<std::uint64_t>(got);
  }
}

const UnreadPlace* unread_place(const Tensor& tensor) {
  return tensor.data() == nullptr ? std::get_deleter<UnreadPlace>(tensor.owner()) : nullptr;
}

Tensor read_ranges(const UnreadPlace& place, Shape shape, Dtype dtype,
                   std::span<const ByteRange> ranges) {
  Tensor out = filled(std::move(shape), dtype, [&](char* to) {
    for (const ByteRange& range : ranges) {
      place.file->read(place.offset + range.offset, range.length, to);
      to += range.length;
    }
  });
  if (place.file->bytes_read) *place.file->bytes_read += out.nbytes();
  return out;
}

Tensor read_whole(const Tensor& tensor) {
  const UnreadPlace* place = unread_place(tensor);
  if (place == nullptr) return tensor;
  const ByteRange all{0, tensor.nbytes()};
  return read_ranges(*place, tensor.shape(), tensor.dtype(), {&all, 1});
}

}  // namespace qlinear::io
