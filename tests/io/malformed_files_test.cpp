// Every file of tests/data/malformed is rejected with a FileError naming the path and the
// reason its manifest (expected.json, written by tests/data/make_malformed.py) gives.
#include <filesystem>
#include <fstream>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "qlinear/io.h"

namespace qlinear {
namespace {

const std::filesystem::path kFolder = std::filesystem::path(QLINEAR_TEST_DATA) / "malformed";

struct MalformedFile {
  std::string name;    // file name in kFolder
  std::string reason;  // a substring of the expected message
};

std::vector<MalformedFile> manifest() {
  std::ifstream in(kFolder / "expected.json");
  const nlohmann::json expected = nlohmann::json::parse(in);
  std::vector<MalformedFile> files;
  for (const auto& [name, reason] : expected.items()) {
    files.push_back({name, reason.get<std::string>()});
  }
  return files;
}

// Names the file when a case fails (GoogleTest would print the struct's bytes).
void PrintTo(const MalformedFile& file, std::ostream* out) {
  *out << file.name;
}

class SafetensorsMalformed : public ::testing::TestWithParam<MalformedFile> {};

TEST_P(SafetensorsMalformed, IsRejectedWithItsReason) {
  const auto path = kFolder / GetParam().name;
  try {
    load_safetensors(path);
    FAIL() << "loaded " << path;
  } catch (const FileError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find(GetParam().reason), std::string::npos) << message;
  } catch (const std::exception& e) {
    FAIL() << "not a FileError: " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, SafetensorsMalformed, ::testing::ValuesIn(manifest()),
                         [](const auto& info) {
                           return std::filesystem::path(info.param.name).stem().string();
                         });

TEST(SafetensorsMalformedCorpus, ManifestListsEveryFile) {
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(kFolder)) {
    if (entry.path().extension() == ".safetensors") on_disk.insert(entry.path().filename());
  }
  std::set<std::string> listed;
  for (const MalformedFile& file : manifest()) listed.insert(file.name);
  EXPECT_EQ(on_disk, listed);
  EXPECT_GE(listed.size(), 30u);
}

}  // namespace
}  // namespace qlinear
