// Exhausted resources: a full disk (RLIMIT_FSIZE, SIGXFSZ ignored) under `qlinear
// quantize`, `dequantize`, `convert` and save_weights; convert killed at random moments;
// stale partial folders; a header declaring a huge tensor under a small address space.
// Each case runs in a child process, so the limits never reach the test itself.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "common/death_tests.h"
#include "common/sanitized.h"
#include "nn/model_fixture.h"
#include "qlinear/model.h"
#include "qlinear/nn.h"

namespace qlinear {
namespace {

namespace fs = std::filesystem;

// The file limit of the disk-full cases: far below every output written here.
constexpr int kFileLimitBlocks = 64;  // of 512 bytes: 32 KiB

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// Every file under `folder` (hidden ones included) with its contents.
std::map<std::string, std::string> snapshot(const fs::path& folder) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    files[fs::relative(entry.path(), folder).string()] =
        entry.is_regular_file() ? read_bytes(entry.path()) : "<folder>";
  }
  return files;
}

// In a death-test child: sets a resource limit, runs fn, and exits 1 printing the
// FileError it throws, else 0.
template <class Fn>
[[noreturn]] void exit_with_file_error(int resource, rlim_t limit, Fn&& fn) {
  const rlimit both{limit, limit};
  setrlimit(resource, &both);
  signal(SIGXFSZ, SIG_IGN);  // a write past RLIMIT_FSIZE fails with EFBIG instead
  try {
    fn();
  } catch (const FileError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::exit(1);
  }
  std::exit(0);
}

class Exhaustion : public testing::ModelFolderTest {
 protected:
  struct Result {
    int status;
    std::string err;
  };

  // Runs the tool with its files limited to kFileLimitBlocks; writes past the limit fail
  // with EFBIG instead of killing it.
  Result run_on_full_disk(const std::string& args) const {
    const fs::path err = root_ / "stderr";
    const std::string command = "ulimit -f " + std::to_string(kFileLimitBlocks) +
                                " && trap '' XFSZ && exec " + std::string(QLINEAR_CLI) + " " +
                                args + " >/dev/null 2>" + err.string();
    const int raw = std::system(command.c_str());
    return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, read_bytes(err)};
  }

  // The folder a disk-full case writes into, with its input and a previous output.
  fs::path work() const { return dir("work"); }
  void set_up_work() {
    fs::create_directories(work());
    fs::copy_file(float_dir() / "model.safetensors", work() / "in.safetensors");
    std::ofstream(work() / "out.safetensors") << "previous contents";
  }

  void expect_disk_full_failure(const Result& r, const fs::path& named,
                                const std::map<std::string, std::string>& before) const {
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.err.find(named.string()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("File too large"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(snapshot(work()) == before) << "files left or changed in " << work();
  }
};

TEST_F(Exhaustion, QuantizeOnAFullDiskFailsAndLeavesNothing) {
  set_up_work();
  const auto before = snapshot(work());
  const Result r = run_on_full_disk("quantize " + (work() / "in.safetensors").string() + " " +
                                    (work() / "out.safetensors").string());
  expect_disk_full_failure(r, work() / "out.safetensors", before);
}

TEST_F(Exhaustion, DequantizeOnAFullDiskFailsAndLeavesNothing) {
  set_up_work();
  const fs::path quantized = root_ / "q.safetensors";  // written without a limit
  const std::string make = std::string(QLINEAR_CLI) + " quantize " +
                           (work() / "in.safetensors").string() + " " + quantized.string() +
                           " >/dev/null";
  ASSERT_EQ(std::system(make.c_str()), 0);
  fs::copy_file(quantized, work() / "q.safetensors");
  const auto before = snapshot(work());
  const Result r = run_on_full_disk("dequantize " + (work() / "q.safetensors").string() + " " +
                                    (work() / "out.safetensors").string());
  expect_disk_full_failure(r, work() / "out.safetensors", before);
}

TEST_F(Exhaustion, ConvertOnAFullDiskFailsAndLeavesNothing) {
  set_up_work();
  const auto before = snapshot(work());
  const auto input_before = snapshot(float_dir());
  const fs::path output = work() / "converted";
  const Result r =
      run_on_full_disk("convert " + float_dir().string() + " " + output.string() + " -q");
  expect_disk_full_failure(r, work() / ".converted.partial-", before);
  EXPECT_TRUE(snapshot(float_dir()) == input_before);
}

TEST_F(Exhaustion, SaveWeightsOnAFullDiskThrowsAndLeavesNothing) {
  set_up_work();
  const auto before = snapshot(work());
  const fs::path target = work() / "out.safetensors";
  if (!testing::can_reexecute_self()) GTEST_SKIP() << testing::kCannotReexecute;
  const LoadedModel loaded = load_model(float_dir());
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(exit_with_file_error(RLIMIT_FSIZE, kFileLimitBlocks * 512,
                                   [&] { loaded.model->save_weights(target); }),
              ::testing::ExitedWithCode(1), target.string() + ".*File too large");
  EXPECT_TRUE(snapshot(work()) == before);
}

// The next run removes the partial folder a killed run left (its process is gone), and
// leaves alone that of a conversion still running.
TEST_F(Exhaustion, StalePartialFoldersOfDeadRunsAreRemoved) {
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  const fs::path stale = root_ / (".q.partial-" + std::to_string(dead));
  const fs::path live = root_ / (".q.partial-" + std::to_string(getppid()));
  for (const auto& folder : {stale, live}) {
    fs::create_directories(folder);
    std::ofstream(folder / "model.safetensors") << "half";
  }
  ConvertOptions options;
  options.quantize = true;
  convert("q", options);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live / "model.safetensors"));
  EXPECT_NO_THROW(load_model(dir("q")));
}

// kill -9 at seeded random moments of a conversion: the output is absent or complete.
TEST_F(Exhaustion, ConvertKilledAtRandomMomentsLeavesNoHalfOutput) {
  const fs::path reference = dir("reference");
  const std::string command = std::string(QLINEAR_CLI) + " convert " + float_dir().string() + " ";
  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(std::system((command + reference.string() + " -q >/dev/null").c_str()), 0);
  const auto full_run = std::chrono::steady_clock::now() - started;

  std::mt19937 random(14);
  constexpr int kTrials = 6;
  int completed = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    const fs::path output = dir("killed" + std::to_string(trial));
    const pid_t child = fork();
    if (child == 0) {
      execl("/bin/sh", "sh", "-c", ("exec " + command + output.string() + " -q >/dev/null").c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    std::this_thread::sleep_for(std::uniform_real_distribution<double>(0.0, 1.0)(random) *
                                full_run);
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    if (fs::exists(output)) {
      ++completed;
      EXPECT_TRUE(snapshot(output) == snapshot(reference)) << "trial " << trial;
      EXPECT_NO_THROW(load_model(output));
    } else {
      // The next run to the same output removes what the killed one left.
      ConvertOptions options;
      options.quantize = true;
      convert("killed" + std::to_string(trial), options);
    }
  }
  for (const auto& entry : fs::directory_iterator(root_)) {
    EXPECT_EQ(entry.path().filename().string().find(".partial-"), std::string::npos)
        << entry.path();
  }
  RecordProperty("completed_before_the_kill", completed);
}

// Peak resident memory of a command run through the shell (which execs it), in bytes.
std::int64_t peak_resident_bytes(const std::string& command) {
  const pid_t child = fork();
  if (child == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  if (wait4(child, &status, 0, &usage) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return -1;
  return std::int64_t{usage.ru_maxrss} * 1024;
}

// convert of a folder larger than the memory it should use: each step's input pages are
// given back once written, so the peak stays within twice the largest tensor (its source
// and the converted copy) plus the program itself, whatever the folder's size.
TEST(ConvertMemory, PeakResidentMemoryOfAGigabyteFolderStaysWithinTwiceTheLargestTensor) {
#if defined(QLINEAR_TEST_SANITIZED) || defined(QLINEAR_TEST_EMULATED)
  GTEST_SKIP() << "resident sizes of sanitized or emulated programs measure something else";
#else
  const fs::path root = fs::temp_directory_path() / ("qlinear_rss_" + std::to_string(getpid()));
  fs::remove_all(root);
  SyntheticModelShape shape;
  shape.hidden = 2048;
  shape.intermediate = 5632;
  shape.vocab = 8192;
  shape.blocks = 6;
  shape.dtype = Dtype::float32;  // 1.2 GB in 304M weights
  write_synthetic_model(root / "float", shape, 5);
  std::uintmax_t folder_bytes = 0;
  for (const auto& entry : fs::directory_iterator(root / "float")) {
    if (entry.is_regular_file()) folder_bytes += entry.file_size();
  }
  ASSERT_GE(folder_bytes, std::uintmax_t{1} << 30);

  const std::int64_t largest_tensor = shape.vocab * shape.hidden * 4;  // embed_tokens, lm_head
  const std::int64_t program = std::int64_t{64} << 20;  // code, libraries, thread stacks
  const std::int64_t peak =
      peak_resident_bytes(std::string(QLINEAR_CLI) + " convert " + (root / "float").string() + " " +
                          (root / "out").string() + " -q >/dev/null");
  ASSERT_GT(peak, 0) << "convert failed";
  EXPECT_LE(peak, 2 * largest_tensor + program) << "convert of " << folder_bytes << " bytes";
  RecordProperty("peak_resident_mb", static_cast<int>(peak >> 20));
  fs::remove_all(root);
#endif
}

// A header declaring 2^40 elements (or a size that overflows) is refused from the header
// alone, in an address space of 256 MiB: nothing of that size is allocated or mapped.
TEST(HugeTensorHeader, IsRefusedBeforeAnythingIsAllocated) {
#ifdef QLINEAR_TEST_SANITIZED  // the sanitizers reserve terabytes of address space
  GTEST_SKIP() << "an address-space limit cannot hold a sanitizer's shadow memory";
#else
  if (!testing::can_reexecute_self()) GTEST_SKIP() << testing::kCannotReexecute;
  const fs::path folder = fs::temp_directory_path() / ("qlinear_huge_" + std::to_string(getpid()));
  fs::create_directories(folder);
  const std::map<std::string, std::string> headers = {
      {"terabyte",
       R"({"w":{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,4398046511104]}})"},
      {"overflow",
       R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}})"},
  };
  for (const auto& [name, header] : headers) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
    std::ofstream(folder / name, std::ios::binary) << bytes << header;
  }
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (const auto& [name, header] : headers) {
    const std::string reason = name == "terabyte" ? "needs 4398046511104 bytes" : "overflows int64";
    EXPECT_EXIT(exit_with_file_error(RLIMIT_AS, rlim_t{256} << 20,
                                     [&] { load_safetensors(folder / name); }),
                ::testing::ExitedWithCode(1), reason);
  }
  fs::remove_all(folder);
#endif
}

}  // namespace
}  // namespace qlinear
