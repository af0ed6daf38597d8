#include "io/header.h"

#include <algorithm>
#include <array>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "io/dtype_names.h"
#include "io/utf8.h"

namespace qlinear::io {
namespace {

using nlohmann::json;

constexpr std::string_view kMetadataKey = "__metadata__";
constexpr std::array<std::string_view, 3> kEntryKeys = {"dtype", "shape", "data_offsets"};
constexpr auto kInt64Max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

[[noreturn]] void fail(const std::string& reason) {
  throw MalformedHeader(reason);
}

// Untrusted text can be huge: error messages keep its beginning only.
std::string truncated(std::string text) {
  constexpr std::size_t kMaxLength = 60;
  if (text.size() > kMaxLength) text = text.substr(0, kMaxLength) + "...";
  return text;
}

std::string in_quotes(std::string_view name) {
  std::string text = "'";  // appended step by step: GCC 12 warns falsely on "'" + string&&
  text += truncated(std::string(name));
  return text + "'";
}

// A short description of an untrusted JSON value. Containers are not dumped: dumping
// recurses, and a malicious header can nest arrays millions deep.
std::string brief(const json& value) {
  if (value.is_array()) {
    return "an array of " + std::to_string(value.size()) +
           (value.size() == 1 ? " element" : " elements");
  }
  if (value.is_object()) return "an object";
  return truncated(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

// nlohmann::json keeps one of several equal keys without a word; its parser callback sees
// every key, so duplicates are caught here. Depth 1 is the header object itself.
json parse_rejecting_duplicates(std::string_view text) {
  std::vector<std::set<std::string>> open_objects;
  std::string tensor;  // the top-level key being parsed, for messages about nested keys
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) open_objects.emplace_back();
    if (event == json::parse_event_t::object_end) open_objects.pop_back();
    if (event == json::parse_event_t::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (depth == 1) tensor = key;
      if (!open_objects.back().insert(key).second) {
        if (depth == 1 && key == kMetadataKey) fail("duplicate __metadata__");
        if (depth == 1) fail("duplicate tensor name " + in_quotes(key));
        fail("duplicate key " + in_quotes(key) + " inside " + in_quotes(tensor));
      }
    }
    return true;
  };
  // nlohmann's lexer reads a NUL byte as the end of input, which would hide what follows.
  if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
    fail("header is not valid JSON: NUL byte at byte " + std::to_string(nul) + " of the header");
  }
  try {
    return json::parse(text.begin(), text.end(), on_event);
  } catch (const json::exception& e) {
    fail(std::string("header is not valid JSON: ") + e.what());
  }
}

std::uint64_t read_non_negative_integer(const json& value, const std::string& what) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_number_integer()) {
    const auto signed_value = value.get<std::int64_t>();
    if (signed_value < 0) fail(what + " is negative: " + std::to_string(signed_value));
    return static_cast<std::uint64_t>(signed_value);
  }
  fail(what + " is not an integer: " + brief(value));
}

Dtype read_dtype(const json& value, const std::string& tensor) {
  if (!value.is_string()) fail("dtype of " + tensor + " is not a string: " + brief(value));
  const auto dtype = dtype_from_safetensors_name(value.get_ref<const std::string&>());
  if (!dtype) fail("unknown dtype " + brief(value) + " of " + tensor);
  return *dtype;
}

Shape read_shape(const json& value, const std::string& tensor) {
  if (!value.is_array()) fail("shape of " + tensor + " is not an array: " + brief(value));
  Shape shape;
  shape.reserve(value.size());
  for (std::size_t axis = 0; axis < value.size(); ++axis) {
    const std::string what = "dimension " + std::to_string(axis) + " of the shape of " + tensor;
    const std::uint64_t dim = read_non_negative_integer(value[axis], what);
    if (dim > kInt64Max) fail(what + " is too large: " + std::to_string(dim));
    shape.push_back(static_cast<std::int64_t>(dim));
  }
  return shape;
}

// Bytes of a tensor; fails if its element count or byte size does not fit in int64.
std::uint64_t byte_size(const Shape& shape, Dtype dtype, const std::string& tensor) {
  std::uint64_t count = 1;
  for (const std::int64_t dim : shape) {
    const auto d = static_cast<std::uint64_t>(dim);
    if (d != 0 && count > kInt64Max / d) {
      fail("element count of " + tensor + " with shape " + truncated(shape_string(shape)) +
           " overflows int64");
    }
    count *= d;
  }
  if (count > kInt64Max / size_of(dtype)) {
    fail("byte size of " + tensor + " (" + std::to_string(count) + " elements of " +
         std::string(safetensors_name(dtype)) + ") overflows int64");
  }
  return count * size_of(dtype);
}

TensorEntry read_entry(const std::string& name, const json& value) {
  const std::string tensor = "tensor " + in_quotes(name);
  if (!value.is_object()) fail(tensor + " is not an object but " + brief(value));
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (std::find(kEntryKeys.begin(), kEntryKeys.end(), it.key()) == kEntryKeys.end()) {
      fail(tensor + " has an unknown key " + in_quotes(it.key()));
    }
  }
  for (const std::string_view key : kEntryKeys) {
    if (!value.contains(key)) fail(tensor + " lacks '" + std::string(key) + "'");
  }

  TensorEntry entry{{name, read_dtype(value["dtype"], tensor), read_shape(value["shape"], tensor)}};
  const std::uint64_t bytes = byte_size(entry.info.shape, entry.info.dtype, tensor);

  const json& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2) {
    fail("data_offsets of " + tensor + " is not a pair of integers but " + brief(offsets));
  }
  entry.begin = read_non_negative_integer(offsets[0], "data_offsets[0] of " + tensor);
  entry.end = read_non_negative_integer(offsets[1], "data_offsets[1] of " + tensor);
  const std::string range =
      "[" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) + "]";
  if (entry.begin > entry.end)
    fail("data_offsets of " + tensor + " begin after they end: " + range);
  if (entry.end - entry.begin != bytes) {
    fail("data_offsets " + range + " of " + tensor + " hold " +
         std::to_string(entry.end - entry.begin) + " bytes, but its dtype and shape need " +
         std::to_string(bytes));
  }
  return entry;
}

Metadata read_metadata(const json& value) {
  // MLX writes "__metadata__": null when there is none (mlx.nn save_weights does).
  if (value.is_null()) return {};
  if (!value.is_object()) fail("__metadata__ is not an object but " + brief(value));
  if (value.contains("data_offsets") && !value["data_offsets"].is_string()) {
    fail("a tensor may not be named __metadata__");
  }
  Metadata metadata;
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!it.value().is_string()) {
      fail("metadata value of " + in_quotes(it.key()) + " is not a string but " +
           brief(it.value()));
    }
    metadata.emplace(it.key(), it.value().get<std::string>());
  }
  return metadata;
}

std::string describe(const TensorEntry& entry) {
  return in_quotes(entry.info.name) + " [" + std::to_string(entry.begin) + ", " +
         std::to_string(entry.end) + "]";
}

// The tensors, ordered by offset, must tile the data section exactly.
void check_layout(std::vector<TensorEntry>& tensors, std::uint64_t data_size) {
  std::stable_sort(tensors.begin(), tensors.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t offset = 0;
  const TensorEntry* previous = nullptr;
  for (const TensorEntry& entry : tensors) {
    if (entry.begin > offset && previous == nullptr) {
      fail("tensor data does not start at offset 0: the first tensor is " + describe(entry));
    }
    if (entry.begin > offset) {
      fail("gap of " + std::to_string(entry.begin - offset) + " bytes in the data between " +
           describe(*previous) + " and " + describe(entry));
    }
    if (entry.begin < offset)
      fail("data of " + describe(entry) + " overlaps " + describe(*previous));
    offset = entry.end;
    previous = &entry;
  }
  if (offset > data_size) {
    fail("tensor data needs " + std::to_string(offset) + " bytes but the file holds only " +
         std::to_string(data_size) + " after the header (truncated file?)");
  }
  if (offset < data_size) {
    fail(std::to_string(data_size - offset) + " trailing bytes after the tensor data");
  }
}

}  // namespace

Header parse_header(std::string_view text, std::uint64_t data_size) {
  if (const auto bad = first_invalid_utf8(text)) {
    fail("header is not valid UTF-8 (byte " + std::to_string(*bad) + " of the header)");
  }
  const json root = parse_rejecting_duplicates(text);
  if (!root.is_object()) fail("header is not a JSON object but " + brief(root));
  Header header;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == kMetadataKey) {
      header.metadata = read_metadata(it.value());
    } else {
      header.tensors.push_back(read_entry(it.key(), it.value()));
    }
  }
  check_layout(header.tensors, data_size);
  return header;
}

std::string format_header(const std::vector<TensorEntry>& tensors, const Metadata& metadata) {
  // Assembled piece by piece: nlohmann::ordered_json finds keys by linear search, which
  // would make a header of many tensors quadratic.
  const auto dump = [](const auto& value) {
    try {
      return json(value).dump();
    } catch (const json::type_error&) {
      throw std::invalid_argument("[save_safetensors] tensor name or metadata is not valid UTF-8");
    }
  };
  std::string text = "{";
  if (!metadata.empty()) text += dump(kMetadataKey) + ":" + dump(metadata);
  for (const TensorEntry& entry : tensors) {
    if (text.size() > 1) text += ",";
    text += dump(entry.info.name) + ":{\"dtype\":" + dump(safetensors_name(entry.info.dtype)) +
            ",\"shape\":" + dump(entry.info.shape) +
            ",\"data_offsets\":" + dump(std::array{entry.begin, entry.end}) + "}";
  }
  text += "}";
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace qlinear::io
