// `qlinear generate` under mpirun: the model sharded over the ranks prints, from rank 0
// only, what one process prints (greedy and seeded sampling), and a model whose heads do
// not divide among the ranks ends the job with the sharding error.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <string>

#include "common/cli_llama.h"
#include "common/cli_runner.h"

namespace qlinear {
namespace {

namespace fs = std::filesystem;

class DistributedCli : public ::testing::Test {
 protected:
  // 4 heads, 2 key-value heads: they divide among 2 ranks, not 3.
  static void SetUpTestSuite() { dir_ = testing::write_cli_llama("qlinear_distributed_cli"); }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // `qlinear generate` on the folder, alone (ranks 0) or under mpirun -np ranks.
  static testing::CliResult generate(const std::string& flags, int ranks = 0) {
    const std::string launcher = ranks > 0 ? QLINEAR_MPIEXEC " " + std::to_string(ranks) : "";
    return testing::run_cli("generate " + (dir_ / "llama").string() + " " + flags, dir_, launcher);
  }

  static inline fs::path dir_;
};

// The token line of generate's output (the summary's speeds differ from run to run).
std::string tokens_of(const std::string& out) {
  std::smatch match;
  EXPECT_TRUE(std::regex_match(out, match,
                               std::regex("==========\n([0-9 ]+)\n==========\n"
                                          "Prompt: 3 tokens, [0-9.]+ tokens-per-sec\n"
                                          "Generation: 12 tokens, [0-9.]+ tokens-per-sec\n"
                                          "Peak memory: [0-9.]+ GB\n")))
      << out;
  return match.size() > 1 ? match[1].str() : "";
}

TEST_F(DistributedCli, TwoRanksPrintOnceTheTokensOfOneProcess) {
  for (const std::string flags : {"--temp 0", "--temp 1 --top-k 20 --seed 7"}) {
    const std::string args = "--prompt-tokens 3,17,42 -m 12 --ignore-eos " + flags;
    const testing::CliResult alone = generate(args);
    ASSERT_EQ(alone.status, 0) << alone.err;
    const testing::CliResult sharded = generate(args, 2);
    ASSERT_EQ(sharded.status, 0) << sharded.err;
    const std::string tokens = tokens_of(alone.out);
    EXPECT_EQ(std::count(tokens.begin(), tokens.end(), ' '), 11) << tokens;
    EXPECT_EQ(tokens_of(sharded.out), tokens) << flags;
  }
}

TEST_F(DistributedCli, HeadsThatDoNotDivideEndTheJobWithTheShardingError) {
  const testing::CliResult r = generate("--prompt-tokens 3,17,42 -m 2", 3);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("[lm.shard] The llama model's 4 attention heads and 2 key-value heads "
                       "cannot be divided among 3 ranks."),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace qlinear
