// A model folder built in a hidden folder beside its destination and renamed into place
// only when complete: an interrupted or failed conversion never leaves a folder at OUT_DIR.
#pragma once

#include <filesystem>

namespace qlinear::model {

class PartialFolder {
 public:
  // Refuses (std::invalid_argument "[convert] ...") an `output` that exists; creates its
  // parent, removes the partial folders of conversions whose process is gone, and creates
  // ".<name>.partial-<pid>" beside it.
  explicit PartialFolder(const std::filesystem::path& output);
  // Removes the folder unless move_to ran.
  ~PartialFolder();
  PartialFolder(const PartialFolder&) = delete;
  PartialFolder& operator=(const PartialFolder&) = delete;

  const std::filesystem::path& path() const { return path_; }
  void move_to(const std::filesystem::path& target);

 private:
  std::filesystem::path path_;
};

}  // namespace qlinear::model
