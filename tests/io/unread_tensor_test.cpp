// Tensors left unread by read_safetensors_header (sharded loading): the same checks and
// errors as load_safetensors, and a shard read from the file equal to the shard cut from
// the loaded tensor, with only its bytes read.
#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/test_files.h"
#include "io/unread_tensor.h"
#include "nn/shard.h"
#include "qlinear/io.h"

namespace qlinear {
namespace {

std::string message_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

std::vector<std::uint8_t> bytes_of(const Tensor& t) {
  const auto* p = static_cast<const std::uint8_t*>(t.data());
  return {p, p + t.nbytes()};
}

TEST(UnreadTensor, MalformedFilesGiveLoadSafetensorsErrors) {
  const auto folder = std::filesystem::path(QLINEAR_TEST_DATA) / "malformed";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() != ".safetensors") continue;
    const std::string expected = message_of([&] { load_safetensors(entry.path()); });
    EXPECT_NE(expected, "no error") << entry.path();
    EXPECT_EQ(message_of([&] { io::read_safetensors_header(entry.path(), nullptr); }), expected);
    ++files;
  }
  EXPECT_GE(files, 30);
}

// Every axis, segment split and rank of a 2-D and a 3-D tensor: the same bytes (or the
// same error) as shard_tensor on the loaded tensor, and exactly the shard's bytes read.
TEST(UnreadTensor, ShardsReadOnlyTheirBytes) {
  test::ScratchFolder scratch;
  std::vector<std::int32_t> values(2 * 6 * 12);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<std::int32_t>(i * 7 + 1);
  const TensorMap tensors = {
      {"matrix", Tensor::from_values<std::int32_t>(
                     {6, 12}, Dtype::int32, std::span<const std::int32_t>(values).first(72))},
      {"stack", Tensor::from_values<std::int32_t>({2, 6, 12}, Dtype::int32, values)},
  };
  save_safetensors(scratch / "t.safetensors", tensors);
  const TensorMap loaded = load_safetensors(scratch / "t.safetensors").tensors;
  auto counter = std::make_shared<std::atomic<std::uint64_t>>(0);
  const TensorMap unread = io::read_safetensors_header(scratch / "t.safetensors", counter).tensors;
  EXPECT_EQ(*counter, 0u);

  const std::vector<nn::Segments> splits = {1, 3, std::vector<double>{0.5}};
  int compared = 0;
  for (const auto& [name, whole] : loaded) {
    ASSERT_NE(io::unread_place(unread.at(name)), nullptr);
    for (int axis = -1; axis < whole.ndim(); ++axis) {
      for (const nn::Segments& segments : splits) {
        for (int size = 1; size <= 3; ++size) {
          for (int rank = 0; rank < size; ++rank) {
            const auto cut = [&](const Tensor& t) {
              return nn::detail::shard_tensor("test", name, t, axis, segments, rank, size);
            };
            const std::uint64_t before = *counter;
            const std::string error = message_of([&] { cut(whole); });
            if (error != "no error") {
              EXPECT_EQ(message_of([&] { cut(unread.at(name)); }), error);
              continue;
            }
            const Tensor expected = cut(whole);
            const Tensor actual = cut(unread.at(name));
            EXPECT_EQ(actual.shape(), expected.shape());
            EXPECT_EQ(bytes_of(actual), bytes_of(expected)) << name << " axis " << axis;
            EXPECT_EQ(*counter - before, expected.nbytes());
            ++compared;
          }
        }
      }
    }
  }
  EXPECT_GT(compared, 40);
  EXPECT_EQ(bytes_of(io::read_whole(unread.at("stack"))), bytes_of(loaded.at("stack")));
}

TEST(UnreadTensor, FileCutShortAfterItsHeaderWasReadIsAnError) {
  test::ScratchFolder scratch;
  const auto path = scratch / "t.safetensors";
  save_safetensors(path, {{"x", Tensor::zeros({64}, Dtype::float32)}});
  const TensorMap unread = io::read_safetensors_header(path, nullptr).tensors;
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 8);
  const std::string message = message_of([&] { io::read_whole(unread.at("x")); });
  EXPECT_EQ(message.rfind("[load_safetensors] " + path.string() + ": the file ends at byte ", 0),
            0u)
      << message;
}

}  // namespace
}  // namespace qlinear
