// SafetensorsWriter: tensors in the declared order, checked against their declaration.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/test_files.h"
#include "qlinear/io.h"

namespace qlinear {
namespace {

using test::ScratchFolder;

Tensor iota(const Shape& shape, Dtype dtype) {
  std::vector<float> values(static_cast<std::size_t>(element_count(shape)));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  return Tensor::from_floats(shape, Dtype::float32, values).astype(dtype);
}

// The message of the std::invalid_argument that action throws.
template <class Action>
std::string invalid_argument_of(Action&& action) {
  try {
    action();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no std::invalid_argument";
  return {};
}

class SafetensorsWriterTest : public ::testing::Test {
 protected:
  ScratchFolder folder_;
  std::filesystem::path path_ = folder_ / "out.safetensors";
  Tensor a_ = iota({2, 3}, Dtype::float32);
  Tensor b_ = iota({4}, Dtype::float16);
  Tensor c_ = iota({}, Dtype::int8);
  std::vector<TensorInfo> declared_ = {
      {"a", Dtype::float32, {2, 3}}, {"b", Dtype::float16, {4}}, {"c", Dtype::int8, {}}};
};

TEST_F(SafetensorsWriterTest, StreamsTensorsInTheDeclaredOrder) {
  SafetensorsWriter writer(path_, declared_, {{"format", "mlx"}});
  writer.write("a", a_);
  writer.write("b", b_);
  writer.write("c", c_);
  EXPECT_FALSE(std::filesystem::exists(path_));
  writer.commit();
  EXPECT_EQ(folder_.files(), std::vector<std::string>{"out.safetensors"});

  const SafetensorsFile file = load_safetensors(path_);
  EXPECT_EQ(file.metadata, (Metadata{{"format", "mlx"}}));
  EXPECT_TRUE(file.tensors.at("a").bit_equal(a_));
  EXPECT_TRUE(file.tensors.at("b").bit_equal(b_));
  EXPECT_TRUE(file.tensors.at("c").bit_equal(c_));
}

TEST_F(SafetensorsWriterTest, RejectsAMisfitWithoutWritingIt) {
  SafetensorsWriter writer(path_, declared_);
  EXPECT_EQ(invalid_argument_of([&] { writer.write("b", b_); }),
            "[SafetensorsWriter::write] Expected tensor 'a' next (the declared order), got 'b'");
  EXPECT_EQ(invalid_argument_of([&] { writer.write("a", a_.astype(Dtype::float16)); }),
            "[SafetensorsWriter::write] Tensor 'a' was declared float32, got float16");
  EXPECT_EQ(invalid_argument_of([&] {
              writer.write("a", a_.reshape({3, 2}));
            }),
            "[SafetensorsWriter::write] Tensor 'a' was declared with shape (2, 3), got (3, 2)");
  EXPECT_EQ(invalid_argument_of([&] { writer.write("a", Tensor()); }),
            "[SafetensorsWriter::write] Tensor 'a' is undefined");

  // None of the rejected tensors reached the file: the right ones still make a valid one.
  writer.write("a", a_);
  writer.write("b", b_);
  writer.write("c", c_);
  EXPECT_EQ(invalid_argument_of([&] { writer.write("d", c_); }),
            "[SafetensorsWriter::write] All 3 declared tensors are written; got 'd'");
  writer.commit();
  const SafetensorsFile file = load_safetensors(path_);
  EXPECT_EQ(file.tensors.size(), 3u);
  EXPECT_TRUE(file.tensors.at("a").bit_equal(a_));
}

TEST_F(SafetensorsWriterTest, CommitRequiresEveryDeclaredTensor) {
  {
    SafetensorsWriter writer(path_, declared_);
    writer.write("a", a_);
    EXPECT_EQ(invalid_argument_of([&] { writer.commit(); }),
              "[SafetensorsWriter::commit] 2 declared tensors are not written: 'b', 'c'");
    EXPECT_FALSE(std::filesystem::exists(path_));
  }
  EXPECT_TRUE(folder_.files().empty());
}

TEST_F(SafetensorsWriterTest, CommitsOnce) {
  SafetensorsWriter writer(path_, {});
  writer.commit();
  EXPECT_THROW(writer.commit(), std::logic_error);
  EXPECT_THROW(writer.write("a", a_), std::invalid_argument);  // nothing is left to write
  EXPECT_TRUE(load_safetensors(path_).tensors.empty());
}

TEST_F(SafetensorsWriterTest, RejectsABadDeclarationBeforeCreatingAFile) {
  EXPECT_EQ(invalid_argument_of([&] {
              SafetensorsWriter(path_, {{"a", Dtype::float32, {1}}, {"a", Dtype::int8, {1}}});
            }),
            "[SafetensorsWriter] Tensor 'a' is declared twice");
  EXPECT_EQ(invalid_argument_of([&] {
              SafetensorsWriter(path_, {{"__metadata__", Dtype::float32, {1}}});
            }),
            "[SafetensorsWriter] A tensor may not be named __metadata__");
  EXPECT_THROW(SafetensorsWriter(path_, {{"a", Dtype::float32, {-1}}}), std::invalid_argument);
  EXPECT_THROW(SafetensorsWriter(path_, {{"a", Dtype::float64, {std::int64_t{1} << 61}}}),
               std::invalid_argument);
  EXPECT_TRUE(folder_.files().empty());
}

TEST_F(SafetensorsWriterTest, MovesAndStillCommits) {
  SafetensorsWriter first(path_, {{"c", Dtype::int8, {}}});
  SafetensorsWriter second = std::move(first);
  second.write("c", c_);
  second.commit();
  EXPECT_TRUE(load_safetensors(path_).tensors.at("c").bit_equal(c_));
}

}  // namespace
}  // namespace qlinear
