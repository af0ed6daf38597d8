// A save that fails at any step leaves the old file byte-identical and no temporary file;
// saving over a loaded file keeps the loaded views valid.
#include <sys/resource.h>

#include <csignal>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/test_files.h"
#include "qlinear/io.h"

namespace qlinear {
namespace {

using test::read_bytes;
using test::ScratchFolder;

Tensor filled(const Shape& shape, float value) {
  const std::vector<float> values(static_cast<std::size_t>(element_count(shape)), value);
  return Tensor::from_floats(shape, Dtype::float32, values);
}

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const FileError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no FileError";
  return {};
}

// Caps the size of files this process may write, so that writes fail with EFBIG, as on a
// full disk. SIGXFSZ, which would end the process, is ignored meanwhile.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    saved_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limited = {bytes, saved_.rlim_max};
    ::setrlimit(RLIMIT_FSIZE, &limited);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, saved_handler_);
  }

 private:
  rlimit saved_{};
  void (*saved_handler_)(int) = nullptr;
};

class SafetensorsAtomicSave : public ::testing::Test {
 protected:
  void SetUp() override {
    save_safetensors(path_, {{"w", filled({4}, 1.0f)}}, {{"version", "old"}});
    old_bytes_ = read_bytes(path_);
  }
  // The old file is intact and alone in its folder.
  void expect_old_file_untouched() {
    EXPECT_EQ(read_bytes(path_), old_bytes_);
    EXPECT_EQ(folder_.files(), std::vector<std::string>{"model.safetensors"});
  }

  ScratchFolder folder_;
  std::filesystem::path path_ = folder_ / "model.safetensors";
  std::string old_bytes_;
};

TEST_F(SafetensorsAtomicSave, FailedWriteLeavesTheOldFile) {
  const std::string message = message_of([&] {
    const FileSizeLimit limit(4096);
    save_safetensors(path_, {{"w", filled({64, 64}, 2.0f)}});
  });
  EXPECT_NE(message.find("[save_safetensors] " + path_.string() + ": cannot write"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  expect_old_file_untouched();
}

TEST_F(SafetensorsAtomicSave, WriterDestroyedBeforeCommitLeavesTheOldFile) {
  {
    SafetensorsWriter writer(path_, {{"a", Dtype::float32, {8}}, {"b", Dtype::float32, {8}}});
    writer.write("a", filled({8}, 3.0f));
    // The new data is in a second file until commit.
    EXPECT_EQ(folder_.files().size(), 2u);
  }
  expect_old_file_untouched();
}

TEST_F(SafetensorsAtomicSave, FailedRenameLeavesNoTemporaryFile) {
  const auto occupied = folder_ / "occupied";
  std::filesystem::create_directories(occupied / "child");
  const std::string message = message_of([&] {
    save_safetensors(occupied, {{"w", filled({2}, 1.0f)}});
  });
  EXPECT_NE(message.find(occupied.string() + ": cannot rename"), std::string::npos) << message;
  EXPECT_EQ(folder_.files(), (std::vector<std::string>{"model.safetensors", "occupied"}));
  EXPECT_EQ(read_bytes(path_), old_bytes_);
}

TEST_F(SafetensorsAtomicSave, MissingFolderIsAFileError) {
  const auto nowhere = folder_ / "no" / "such" / "folder.safetensors";
  const std::string message = message_of([&] { save_safetensors(nowhere, {}); });
  EXPECT_NE(message.find(nowhere.string() + ": cannot create a temporary file"), std::string::npos)
      << message;
  expect_old_file_untouched();
}

TEST_F(SafetensorsAtomicSave, SavingOverALoadedFileKeepsItsViews) {
  const SafetensorsFile old_file = load_safetensors(path_);
  const Tensor old_w = old_file.tensors.at("w");
  ASSERT_TRUE(old_w.is_view());

  // Write the loaded views back over their own file, plus a new tensor.
  TensorMap updated = old_file.tensors;
  updated.emplace("v", filled({3}, 5.0f));
  save_safetensors(path_, updated, {{"version", "new"}});

  EXPECT_EQ(old_w.to_floats(), std::vector<float>(4, 1.0f));
  const SafetensorsFile new_file = load_safetensors(path_);
  EXPECT_EQ(new_file.metadata.at("version"), "new");
  EXPECT_TRUE(new_file.tensors.at("w").bit_equal(old_w));
  EXPECT_EQ(new_file.tensors.at("v").to_floats(), std::vector<float>(3, 5.0f));
  EXPECT_EQ(folder_.files(), std::vector<std::string>{"model.safetensors"});

  // Replace it once more, with other values: the first views still see the first file.
  save_safetensors(path_, {{"w", filled({4}, 9.0f)}});
  EXPECT_EQ(old_w.to_floats(), std::vector<float>(4, 1.0f));
  EXPECT_EQ(load_safetensors(path_).tensors.at("w").to_floats(), std::vector<float>(4, 9.0f));
}

}  // namespace
}  // namespace qlinear
