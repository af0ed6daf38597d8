// read_gguf: every read goes through a cursor that checks it against the file size first.
#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <string>

#include "io/gguf_types.h"
#include "io/mapped_file.h"
#include "qlinear/gguf.h"

namespace qlinear {
namespace {

constexpr std::uint64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::uint32_t kMaxDims = 4;              // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;                  // nesting of arrays in metadata
constexpr std::uint64_t kMinKeyValueBytes = 13;    // empty key, type, one byte of value
constexpr std::uint64_t kMinTensorInfoBytes = 24;  // empty name, n_dims, type, offset

class Malformed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& reason) {
  throw Malformed(reason);
}

std::string in_quotes(const std::string& name) {
  constexpr std::size_t kMaxShown = 60;  // untrusted names can be huge
  return "'" + (name.size() > kMaxShown ? name.substr(0, kMaxShown) + "..." : name) + "'";
}

// The value types by the file's id: name, and element dtype of the fixed-size ones (nullopt
// for string and array).
struct ValueTypeTraits {
  const char* name;
  std::optional<Dtype> dtype;
};
constexpr ValueTypeTraits kValueTypes[] = {
    {"uint8", Dtype::uint8},     {"int8", Dtype::int8},     {"uint16", Dtype::uint16},
    {"int16", Dtype::int16},     {"uint32", Dtype::uint32}, {"int32", Dtype::int32},
    {"float32", Dtype::float32}, {"bool", Dtype::bool_},    {"string", std::nullopt},
    {"array", std::nullopt},     {"uint64", Dtype::uint64}, {"int64", Dtype::int64},
    {"float64", Dtype::float64}};

std::string type_name(GgufValueType type) {
  const auto id = static_cast<std::uint32_t>(type);
  return id < std::size(kValueTypes) ? kValueTypes[id].name : "type " + std::to_string(id);
}

// Only for types read_value_type accepted.
std::optional<Dtype> number_dtype(GgufValueType type) {
  return kValueTypes[static_cast<std::uint32_t>(type)].dtype;
}

class Cursor {
 public:
  Cursor(const std::byte* data, std::uint64_t size) : data_(data), size_(size) {}

  std::uint64_t offset() const { return offset_; }
  std::uint64_t left() const { return size_ - offset_; }

  const std::byte* take(std::uint64_t bytes, const std::string& what) {
    if (bytes > left()) {
      fail(what + " at offset " + std::to_string(offset_) + " needs " + std::to_string(bytes) +
           " bytes, but the file has " + std::to_string(left()) + " left (truncated file?)");
    }
    const std::byte* start = data_ + offset_;
    offset_ += bytes;
    return start;
  }

  template <typename T>
  T read(const std::string& what) {
    T value;  // GGUF is little-endian, as every target of this library
    std::memcpy(&value, take(sizeof(T), what), sizeof(T));
    return value;
  }

  std::string read_string(const std::string& what) {
    const auto length = read<std::uint64_t>("length of " + what);
    const std::byte* bytes = take(length, what + " of " + std::to_string(length) + " bytes");
    return {reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(length)};
  }

 private:
  const std::byte* data_;
  std::uint64_t size_;
  std::uint64_t offset_ = 0;
};

GgufValueType read_value_type(Cursor& in, const std::string& what) {
  const std::uint64_t at = in.offset();
  const auto id = in.read<std::uint32_t>("value type of " + what);
  if (id > static_cast<std::uint32_t>(GgufValueType::float64)) {
    fail("unknown value type " + std::to_string(id) + " of " + what + " at offset " +
         std::to_string(at));
  }
  return static_cast<GgufValueType>(id);
}

void check_bools(const Tensor& numbers, const std::string& what) {
  const auto* bytes = numbers.data<std::uint8_t>();
  for (std::int64_t i = 0; i < numbers.size(); ++i) {
    if (bytes[i] > 1) fail("bool " + what + " holds " + std::to_string(bytes[i]) + ", not 0 or 1");
  }
}

GgufValue read_value(Cursor& in, GgufValueType type, const std::string& what, int depth);

GgufValue read_array(Cursor& in, const std::string& what, int depth) {
  if (depth >= kMaxArrayDepth) {
    fail(what + " nests arrays more than " + std::to_string(kMaxArrayDepth) + " deep");
  }
  GgufValue value;
  value.type = GgufValueType::array;
  value.element_type = read_value_type(in, "elements of " + what);
  const auto count = in.read<std::uint64_t>("length of " + what);
  const auto dtype = number_dtype(value.element_type);
  // Each element takes at least one byte (8 for a string's length, 12 for an array's
  // header): a count beyond that cannot be honest, and must not size an allocation.
  const std::uint64_t min_bytes = dtype                                         ? size_of(*dtype)
                                  : value.element_type == GgufValueType::string ? 8
                                                                                : 12;
  if (count > in.left() / min_bytes) {
    fail(what + " declares " + std::to_string(count) + " elements of " +
         type_name(value.element_type) + ", more than the " + std::to_string(in.left()) +
         " bytes left in the file can hold");
  }
  if (dtype) {
    const std::byte* bytes = in.take(count * min_bytes, what);
    value.numbers = Tensor::copy_of({static_cast<std::int64_t>(count)}, *dtype, bytes);
    if (*dtype == Dtype::bool_) check_bools(value.numbers, what);
  } else if (value.element_type == GgufValueType::string) {
    value.strings.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) {
      value.strings.push_back(in.read_string("string " + std::to_string(i) + " of " + what));
    }
  } else {
    value.elements.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) {
      value.elements.push_back(read_value(
          in, GgufValueType::array, "element " + std::to_string(i) + " of " + what, depth + 1));
    }
  }
  return value;
}

GgufValue read_value(Cursor& in, GgufValueType type, const std::string& what, int depth) {
  if (type == GgufValueType::array) return read_array(in, what, depth);
  GgufValue value;
  value.type = type;
  if (type == GgufValueType::string) {
    value.strings.push_back(in.read_string(what));
    return value;
  }
  const Dtype dtype = *number_dtype(type);
  value.numbers = Tensor::copy_of({}, dtype, in.take(size_of(dtype), what));
  if (dtype == Dtype::bool_) check_bools(value.numbers, what);
  return value;
}

std::uint64_t read_alignment(const GgufValue& value) {
  if (value.type != GgufValueType::uint32) {
    fail("general.alignment is a " + type_name(value.type) + ", not a uint32");
  }
  const std::uint32_t alignment = *value.numbers.data<std::uint32_t>();
  if (!std::has_single_bit(alignment)) {
    fail("general.alignment " + std::to_string(alignment) + " is not a power of two");
  }
  return alignment;
}

GgufTensorInfo read_tensor_info(Cursor& in, std::uint64_t index, std::uint64_t alignment) {
  GgufTensorInfo info;
  info.name = in.read_string("name of tensor " + std::to_string(index));
  const std::string tensor = "tensor " + in_quotes(info.name);
  const auto n_dims = in.read<std::uint32_t>("dimension count of " + tensor);
  if (n_dims > kMaxDims) {
    fail(tensor + " has " + std::to_string(n_dims) + " dimensions, more than ggml's " +
         std::to_string(kMaxDims));
  }
  // The product of the non-zero dimensions must fit, whatever their order: a zero
  // dimension does not make the others' product meaningful (Tensor checks it too).
  std::uint64_t nonzero_product = 1;
  for (std::uint32_t axis = 0; axis < n_dims; ++axis) {
    const auto dim = in.read<std::uint64_t>("dimension " + std::to_string(axis) + " of " + tensor);
    if (dim > kInt64Max)
      fail("dimension " + std::to_string(axis) + " of " + tensor + " is " + std::to_string(dim) +
           ", above int64's range");
    if (dim != 0 && nonzero_product > kInt64Max / dim)
      fail("element count of " + tensor + " overflows int64");
    nonzero_product *= std::max<std::uint64_t>(dim, 1);
    info.dims.push_back(dim);
  }
  const bool empty = std::ranges::find(info.dims, 0u) != info.dims.end();
  const std::uint64_t count = empty ? 0 : nonzero_product;
  info.type = in.read<std::uint32_t>("type of " + tensor);
  const io::GgmlType* type = io::ggml_type(info.type);
  if (type == nullptr) fail(tensor + " has unknown type " + std::to_string(info.type));
  const std::uint64_t row = info.dims.empty() ? 1 : info.dims[0];
  if (row % type->block_size != 0) {
    fail("dimension 0 of " + tensor + " is " + std::to_string(row) + ", not a multiple of " +
         std::string(type->name) + "'s block of " + std::to_string(type->block_size));
  }
  if (count / type->block_size > kInt64Max / type->block_bytes) {
    fail("byte size of " + tensor + " (" + std::to_string(count) + " values of " +
         std::string(type->name) + ") overflows int64");
  }
  info.nbytes = count / type->block_size * type->block_bytes;
  info.offset = in.read<std::uint64_t>("data offset of " + tensor);
  if (info.offset % alignment != 0) {
    fail(tensor + " has data offset " + std::to_string(info.offset) +
         ", not a multiple of the alignment " + std::to_string(alignment));
  }
  return info;
}

// Places every tensor in the data section [data_start, file_size), without overlaps.
void place_tensors(std::vector<GgufTensorInfo>& tensors, const std::byte* file,
                   std::uint64_t data_start, std::uint64_t file_size) {
  const std::uint64_t data_size = file_size - data_start;
  std::vector<const GgufTensorInfo*> by_offset;
  for (GgufTensorInfo& info : tensors) {
    if (info.offset > data_size || info.nbytes > data_size - info.offset) {
      fail("data of tensor " + in_quotes(info.name) + " (" + std::to_string(info.nbytes) +
           " bytes at offset " + std::to_string(info.offset) + ") runs past the end of the " +
           std::to_string(data_size) + "-byte data section (truncated file?)");
    }
    info.data = file + data_start + info.offset;
    by_offset.push_back(&info);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto* a, const auto* b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensorInfo& previous = *by_offset[i - 1];
    if (by_offset[i]->offset < previous.offset + previous.nbytes) {
      fail("data of tensor " + in_quotes(by_offset[i]->name) + " at offset " +
           std::to_string(by_offset[i]->offset) + " overlaps tensor " + in_quotes(previous.name) +
           " (" + std::to_string(previous.nbytes) + " bytes at offset " +
           std::to_string(previous.offset) + ")");
    }
  }
}

GgufFile parse(const io::MappedFile& file) {
  Cursor in(file.data.get(), file.size);
  if (file.size < 4 || std::memcmp(file.data.get(), "GGUF", 4) != 0) {
    fail("not a GGUF file (the first 4 bytes are not 'GGUF')");
  }
  in.take(4, "magic");
  GgufFile result;
  result.version = in.read<std::uint32_t>("version");
  if (result.version != 2 && result.version != 3) {
    const bool swapped = result.version == 0x02000000u || result.version == 0x03000000u;
    fail("version " + std::to_string(result.version) + (swapped ? " (a big-endian file?)" : "") +
         " is not supported (only 2 and 3)");
  }
  const auto tensor_count = in.read<std::uint64_t>("tensor count");
  const auto kv_count = in.read<std::uint64_t>("metadata count");
  if (kv_count > in.left() / kMinKeyValueBytes) {
    fail("metadata count " + std::to_string(kv_count) + " is more than the " +
         std::to_string(in.left()) + " bytes left in the file can hold");
  }

  std::set<std::string> keys;
  for (std::uint64_t i = 0; i < kv_count; ++i) {
    std::string key = in.read_string("key of metadata entry " + std::to_string(i));
    if (!keys.insert(key).second) fail("duplicate metadata key " + in_quotes(key));
    const std::string what = "metadata " + in_quotes(key);
    GgufValue value = read_value(in, read_value_type(in, what), what, 0);
    if (key == "general.alignment") result.alignment = read_alignment(value);
    result.metadata.emplace_back(std::move(key), std::move(value));
  }

  if (tensor_count > in.left() / kMinTensorInfoBytes) {
    fail("tensor count " + std::to_string(tensor_count) + " is more than the " +
         std::to_string(in.left()) + " bytes left in the file can hold");
  }
  std::set<std::string> names;
  for (std::uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensorInfo info = read_tensor_info(in, i, result.alignment);
    if (!names.insert(info.name).second) fail("duplicate tensor name " + in_quotes(info.name));
    result.tensors.push_back(std::move(info));
  }

  // The data section starts at the next multiple of the alignment (no overflow: the offset
  // is below the file size, and the alignment below 2^32).
  const std::uint64_t end_of_infos = in.offset();
  const std::uint64_t data_start =
      (end_of_infos + result.alignment - 1) / result.alignment * result.alignment;
  if (data_start > file.size && !result.tensors.empty()) {
    fail("the data section would start at offset " + std::to_string(data_start) +
         ", past the end of the " + std::to_string(file.size) + "-byte file");
  }
  if (!result.tensors.empty())
    place_tensors(result.tensors, file.data.get(), data_start, file.size);
  result.mapping = file.data;
  return result;
}

}  // namespace

GgufFile read_gguf(const std::filesystem::path& path) {
  const io::MappedFile file = io::map_file_read_only(path, "load_gguf");
  try {
    return parse(file);
  } catch (const Malformed& e) {
    throw FileError("[load_gguf] " + path.string() + ": " + e.what());
  }
}

}  // namespace qlinear
