#include "model/partial_folder.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <stdexcept>
#include <string>
#include <vector>

namespace qlinear::model {
namespace {

// Removes the partial folders ("<prefix><pid>") of conversions whose process is gone
// (killed, or the machine went down); those of a live process are left to it.
void remove_stale_partials(const std::filesystem::path& parent, const std::string& prefix) {
  std::vector<std::filesystem::path> stale;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(parent, error)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix)) continue;
    pid_t pid = 0;
    const char* digits = name.data() + prefix.size();
    const auto [end, parse_error] = std::from_chars(digits, name.data() + name.size(), pid);
    if (parse_error != std::errc() || end != name.data() + name.size() || pid <= 0) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(entry.path());
  }
  for (const auto& path : stale) std::filesystem::remove_all(path, error);
}

}  // namespace

PartialFolder::PartialFolder(const std::filesystem::path& output) {
  if (std::filesystem::exists(output)) {
    throw std::invalid_argument("[convert] Cannot save to the path " + output.string() +
                                " as it already exists.");
  }
  const std::filesystem::path parent =
      output.has_parent_path() ? output.parent_path() : std::filesystem::path(".");
  std::filesystem::create_directories(parent);
  const std::string prefix = "." + output.filename().string() + ".partial-";
  remove_stale_partials(parent, prefix);
  path_ = parent / (prefix + std::to_string(::getpid()));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

PartialFolder::~PartialFolder() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

void PartialFolder::move_to(const std::filesystem::path& target) {
  std::filesystem::rename(path_, target);
  path_.clear();
}

}  // namespace qlinear::model
