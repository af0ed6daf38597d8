// qlinear::distributed's group and collectives. ctest runs this binary alone (a group of
// one) and under mpirun with 2 and 3 ranks; every rank runs every test in the same order,
// so the collectives meet. Values are small integers, so every sum is exact.
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "qlinear/distributed.h"

namespace qlinear::distributed {
namespace {

// The number of ranks mpirun started (1 without mpirun).
int launched_size() {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  return size ? std::atoi(size) : 1;
}

void expect_invalid_argument(const std::function<void()>& call, const std::string& message) {
  try {
    call();
    ADD_FAILURE() << "no exception; expected: " << message;
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(e.what(), message);
  }
}

std::vector<float> iota(int n, float start) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = start + static_cast<float>(i);
  return v;
}

TEST(Distributed, InitSpansTheLaunchedRanksAndIsOneGroup) {
  const Group group = init();
  EXPECT_EQ(group.size(), launched_size());
  EXPECT_GE(group.rank(), 0);
  EXPECT_LT(group.rank(), group.size());
  EXPECT_EQ(init().rank(), group.rank());
  EXPECT_EQ(&init(true).communicator(), &group.communicator());
  EXPECT_TRUE(is_available("any") == is_available("mpi"));
  EXPECT_FALSE(is_available("ring"));
  expect_invalid_argument([] { is_available("tcp"); },
                          "[is_available] Unknown backend 'tcp'; expected one of any, mpi, "
                          "ring, nccl, jaccl.");
}

TEST(Distributed, AllSumAddsEveryRanksTensor) {
  const Group group = init();
  const int n = group.size(), r = group.rank();
  for (Dtype dtype : {Dtype::float32, Dtype::float16, Dtype::bfloat16}) {
    // Rank r holds (r + 1) * (k - 3) at position k: the sum is (k - 3) * n (n + 1) / 2.
    std::vector<float> mine = iota(12, -3.0f), expected = iota(12, -3.0f);
    for (std::size_t k = 0; k < mine.size(); ++k) {
      mine[k] *= static_cast<float>(r + 1);
      expected[k] *= static_cast<float>(n * (n + 1) / 2);
    }
    const Tensor sum = all_sum(Tensor::from_floats({3, 4}, dtype, mine));
    EXPECT_EQ(sum.dtype(), dtype);
    EXPECT_EQ(sum.shape(), (Shape{3, 4}));
    EXPECT_EQ(sum.to_floats(), expected) << name_of(dtype);
  }
}

TEST(Distributed, LargeTensorsArriveWhole) {
  // 4 MiB per rank: more than Open MPI's eager limit, so the rendezvous protocol runs.
  const Group group = init();
  const int n = group.size();
  const Tensor mine = Tensor::from_floats({1024, 1024}, Dtype::float32,
                                          std::vector<float>(1 << 20, 1.0f + group.rank()));
  const std::vector<float> sum = all_sum(mine).to_floats();
  EXPECT_EQ(sum, std::vector<float>(1 << 20, static_cast<float>(n * (n + 1) / 2)));
  const std::vector<float> gathered = all_gather(mine).to_floats();
  for (int rank = 0; rank < n; ++rank)
    EXPECT_EQ(gathered[static_cast<std::size_t>(rank) << 20], 1.0f + rank);
}

TEST(Distributed, HalfSumsAreRoundedToTheirType) {
  // 1 + 1.5 * 2^-8 is no bfloat16 (7 fraction bits): the sum rounds to the nearest one.
  const Group group = init();
  if (group.size() != 2) GTEST_SKIP() << "two ranks show one rounded addition";
  const float mine = group.rank() == 0 ? 1.0f : 0x1.8p-8f;
  const Tensor sum = all_sum(Tensor::from_floats({1}, Dtype::bfloat16, std::vector{mine}));
  EXPECT_EQ(sum.to_floats(), std::vector<float>{1.0f + 0x1p-7f});
}

TEST(Distributed, AllGatherConcatenatesInRankOrder) {
  const Group group = init();
  const int n = group.size(), r = group.rank();
  for (Dtype dtype : {Dtype::float32, Dtype::float16, Dtype::bfloat16}) {
    const Tensor gathered =
        all_gather(Tensor::from_floats({2, 3}, dtype, iota(6, 100.0f * static_cast<float>(r))));
    EXPECT_EQ(gathered.shape(), (Shape{2 * n, 3}));
    std::vector<float> expected;
    for (int rank = 0; rank < n; ++rank)
      for (float v : iota(6, 100.0f * static_cast<float>(rank))) expected.push_back(v);
    EXPECT_EQ(gathered.to_floats(), expected) << name_of(dtype);
  }
  const Tensor scalars = all_gather(Tensor::from_floats({}, Dtype::float32, std::vector{1.0f * r}));
  EXPECT_EQ(scalars.shape(), (Shape{n}));
  EXPECT_EQ(scalars.to_floats(), iota(n, 0.0f));
}

TEST(Distributed, SendAndRecvPassTensorsAroundARing) {
  const Group group = init();
  const int n = group.size(), r = group.rank();
  if (n == 1) GTEST_SKIP() << "a group of one has no peer";
  const Tensor mine = Tensor::from_floats({2, 2}, Dtype::bfloat16, iota(4, 10.0f * r));
  const int next = (r + 1) % n, previous = (r + n - 1) % n;
  Tensor received;
  // Rank 0 sends first and every other rank receives first: no rank waits on itself.
  if (r == 0) EXPECT_TRUE(send(mine, next).bit_equal(mine));
  received = recv_like(mine, previous);
  if (r != 0) send(mine, next);
  EXPECT_EQ(received.shape(), (Shape{2, 2}));
  EXPECT_EQ(received.to_floats(), iota(4, 10.0f * previous));
}

TEST(Distributed, RecvOfTheWrongSizeNamesBothAndDropsTheMessage) {
  const Group group = init();
  if (group.size() == 1) GTEST_SKIP() << "a group of one has no peer";
  if (group.rank() == 0) send(Tensor::from_floats({3}, Dtype::float32, iota(3, 0.0f)), 1);
  if (group.rank() == 1)
    expect_invalid_argument([] { recv({4}, Dtype::float32, 0); },
                            "[recv] Expected 16 bytes ((4,) float32) from rank 0, but it sent 12.");
  // The dropped message does not reach the next receive.
  if (group.rank() == 0) send(Tensor::from_floats({1}, Dtype::float32, std::vector{7.0f}), 1);
  if (group.rank() == 1) EXPECT_EQ(recv({1}, Dtype::float32, 0).to_floats(), std::vector{7.0f});
}

TEST(Distributed, ShapesThatDifferAcrossRanksAreRefusedOnEveryRank) {
  const Group group = init();
  if (group.size() == 1) GTEST_SKIP() << "one rank cannot differ";
  const int r = group.rank();
  const Shape shape = r == 0 ? Shape{2} : Shape{3};
  const Tensor x = Tensor::zeros(shape, Dtype::float32);
  const std::string has = " has " + shape_string(shape) + " float32 and another rank differs.";
  expect_invalid_argument([&] { all_sum(x); },
                          "[all_sum] Every rank must pass the same shape "
                          "and dtype; rank " +
                              std::to_string(r) + has);
  expect_invalid_argument([&] { all_gather(x); },
                          "[all_gather] Every rank must pass the same "
                          "shape and dtype; rank " +
                              std::to_string(r) + has);
  // Same element count, another dtype.
  const Tensor y = Tensor::zeros({2}, r == 0 ? Dtype::float16 : Dtype::bfloat16);
  EXPECT_THROW(all_sum(y), std::invalid_argument);
}

TEST(Distributed, ArgumentErrorsNameTheOpAndTheValues) {
  const Group group = init();
  const int n = group.size(), r = group.rank();
  const Tensor ints = Tensor::zeros({2}, Dtype::int32);
  expect_invalid_argument([&] { all_sum(ints); },
                          "[all_sum] Only float32, float16 and bfloat16 tensors are supported, "
                          "got int32.");
  expect_invalid_argument([&] { all_gather(ints); },
                          "[all_gather] Only float32, float16 and bfloat16 tensors are "
                          "supported, got int32.");
  const Tensor x = Tensor::zeros({2}, Dtype::float32);
  expect_invalid_argument([&] { send(x, n); }, "[send] Invalid destination rank " +
                                                   std::to_string(n) + " for a group of size " +
                                                   std::to_string(n) + ".");
  expect_invalid_argument(
      [&] { recv({2}, Dtype::float32, -1); },
      "[recv] Invalid source rank -1 for a group of size " + std::to_string(n) + ".");
  expect_invalid_argument([&] { send(x, r); }, "[send] The destination rank " + std::to_string(r) +
                                                   " is this process's own rank.");
  expect_invalid_argument([&] { recv_like(x, r); }, "[recv] The source rank " + std::to_string(r) +
                                                        " is this process's own rank.");
  expect_invalid_argument([&] { recv({2}, Dtype::uint32, 0); },
                          "[recv] Only float32, float16 and bfloat16 tensors are supported, got "
                          "uint32.");
}

TEST(Distributed, SplitMakesSubgroupsByColor) {
  const Group group = init();
  const int n = group.size(), r = group.rank();
  // Even and odd ranks; the key reverses the order inside each subgroup.
  const Group parity = group.split(r % 2, n - r);
  const int members = (n + 1 - r % 2) / 2;
  EXPECT_EQ(parity.size(), members);
  EXPECT_EQ(parity.rank(), members - 1 - r / 2);
  float expected = 0;
  for (int rank = r % 2; rank < n; rank += 2) expected += static_cast<float>(rank);
  const Tensor sum =
      all_sum(Tensor::from_floats({1}, Dtype::float32, std::vector{1.0f * r}), parity);
  EXPECT_EQ(sum.to_floats(), std::vector{expected});
}

TEST(Distributed, GroupOfOneCopies) {
  const Group group = init().split(init().rank(), 0);
  ASSERT_EQ(group.size(), 1);
  const Tensor x = Tensor::from_floats({2, 3}, Dtype::float16, iota(6, 1.0f));
  EXPECT_TRUE(all_sum(x, group).bit_equal(x));
  EXPECT_TRUE(all_gather(x, group).bit_equal(x));
  expect_invalid_argument([&] { send(x, 1, group); },
                          "[send] Invalid destination rank 1 for a group of size 1.");
}

}  // namespace
}  // namespace qlinear::distributed
