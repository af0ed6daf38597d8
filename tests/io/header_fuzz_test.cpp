// Random damage to a valid file's header: load_safetensors either succeeds, with tensors
// whose bytes lie inside the file, or throws FileError. Nothing else (no crash, no other
// exception; the sanitizer build checks the reads).
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "io/test_files.h"
#include "qlinear/io.h"

namespace qlinear {
namespace {

using test::read_bytes;
using test::ScratchFolder;
using test::write_bytes;

// Bytes that change a JSON document's structure or numbers rather than just its strings.
constexpr std::string_view kJsonBytes = "{}[]\":,0123456789-.eE _tfn\\";

TEST(SafetensorsHeaderFuzz, DamagedHeadersLoadOrThrowFileError) {
  ScratchFolder folder;
  const auto valid_path = folder / "valid.safetensors";
  const std::vector<float> values = {1, 2, 3, 4, 5, 6};
  save_safetensors(valid_path,
                   {{"a", Tensor::from_floats({2, 3}, Dtype::float32, values)},
                    {"b", Tensor::from_floats({3}, Dtype::bfloat16, {values.data(), 3})},
                    {"c", Tensor::zeros({0, 4}, Dtype::uint8)}},
                   {{"format", "mlx"}});
  const std::string valid = read_bytes(valid_path);
  std::size_t header_end = 8;
  for (int i = 7; i >= 0; --i)
    header_end += static_cast<std::size_t>(static_cast<unsigned char>(valid[i])) << (8 * i);
  ASSERT_LT(header_end, valid.size());

  std::mt19937 random(20240601);  // fixed: a failure reproduces
  const auto below = [&](std::size_t n) { return static_cast<std::size_t>(random() % n); };
  const auto path = folder / "damaged.safetensors";
  int loaded = 0;
  constexpr int kIterations = 3000;
  for (int iteration = 0; iteration < kIterations; ++iteration) {
    std::string bytes = valid;
    const std::size_t damage = 1 + below(4);
    for (std::size_t i = 0; i < damage; ++i) {
      // Mostly the JSON text; now and then the length field.
      const std::size_t at = below(8) == 0 ? below(8) : 8 + below(header_end - 8);
      bytes[at] =
          below(2) == 0 ? kJsonBytes[below(kJsonBytes.size())] : static_cast<char>(random() & 0xFF);
    }
    write_bytes(path, bytes);
    try {
      const SafetensorsFile file = load_safetensors(path);
      std::size_t total = 0;
      for (const auto& [name, tensor] : file.tensors) {
        const auto* p = static_cast<const unsigned char*>(tensor.data());
        for (std::size_t i = 0; i < tensor.nbytes(); ++i) total += p[i];  // reads every byte
      }
      EXPECT_LE(total, 255 * bytes.size());
      ++loaded;
    } catch (const FileError&) {
      // Rejected: fine.
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iteration << ": not a FileError: " << e.what();
    }
  }
  // Some damage is harmless (inside a string, a padding space): both outcomes occur.
  EXPECT_GT(loaded, 0);
  EXPECT_LT(loaded, kIterations);
}

}  // namespace
}  // namespace qlinear
