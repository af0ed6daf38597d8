#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace qlinear::core {
namespace {

class ThreadPoolTest : public ::testing::Test {
 protected:
  void TearDown() override { set_num_threads(0); }
};

// Every index is visited exactly once, in chunks of the requested size, for any count.
TEST_F(ThreadPoolTest, VisitsEveryIndexOnce) {
  for (int threads : {1, 2, 3, 8}) {
    set_num_threads(threads);
    for (std::int64_t count : {1, 7, 64, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(count));
      parallel_for(count, 16, [&](std::int64_t begin, std::int64_t end) {
        EXPECT_EQ(begin % 16, 0);
        EXPECT_LE(end - begin, 16);
        for (std::int64_t i = begin; i < end; ++i) hits[static_cast<std::size_t>(i)]++;
      });
      for (std::int64_t i = 0; i < count; ++i) {
        ASSERT_EQ(hits[static_cast<std::size_t>(i)].load(), 1)
            << "index " << i << ", threads " << threads;
      }
    }
  }
}

TEST_F(ThreadPoolTest, ThreadCountIsSettable) {
  set_num_threads(3);
  EXPECT_EQ(num_threads(), 3);
  set_num_threads(0);
  EXPECT_GE(num_threads(), 1);
}

TEST_F(ThreadPoolTest, RethrowsTheFirstException) {
  set_num_threads(2);
  EXPECT_THROW(parallel_for(100, 1,
                            [](std::int64_t begin, std::int64_t) {
                              if (begin == 37) throw std::runtime_error("chunk 37");
                            }),
               std::runtime_error);
  // The pool still works afterwards.
  std::atomic<std::int64_t> sum{0};
  parallel_for(100, 1, [&](std::int64_t begin, std::int64_t) { sum += begin; });
  EXPECT_EQ(sum.load(), 4950);
}

// Several user threads, and a parallel_for nested in another, all complete correctly.
TEST_F(ThreadPoolTest, SafeFromSeveralThreadsAndNested) {
  set_num_threads(2);
  std::vector<std::thread> users;
  std::vector<std::int64_t> sums(4, 0);
  for (int u = 0; u < 4; ++u) {
    users.emplace_back([&, u] {
      for (int rep = 0; rep < 50; ++rep) {
        std::atomic<std::int64_t> sum{0};
        parallel_for(64, 4, [&](std::int64_t begin, std::int64_t end) {
          parallel_for(end - begin, 1, [&](std::int64_t b, std::int64_t) { sum += begin + b; });
        });
        sums[static_cast<std::size_t>(u)] += sum.load();
      }
    });
  }
  for (auto& t : users) t.join();
  for (std::int64_t s : sums) EXPECT_EQ(s, 50 * (63 * 64 / 2));
}

}  // namespace
}  // namespace qlinear::core
