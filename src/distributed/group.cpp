// Group, init and is_available: which backend the global group comes from.
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>

#include "distributed/communicator.h"
#include "qlinear/distributed.h"

namespace qlinear::distributed {
namespace {

// mpirun (Open MPI), mpiexec.hydra (MPICH) and PMIx launchers set these in each rank.
bool launched_by_mpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

bool is_known_backend(std::string_view backend) {
  for (std::string_view known : {"any", "mpi", "ring", "nccl", "jaccl"})
    if (backend == known) return true;
  return false;
}

}  // namespace

Group::Group(std::shared_ptr<detail::Communicator> communicator)
    : communicator_(std::move(communicator)) {}

int Group::rank() const {
  return communicator_->rank();
}

int Group::size() const {
  return communicator_->size();
}

Group Group::split(int color, int key) const {
  return Group(communicator_->split(color, key));
}

bool is_available(std::string_view backend) {
  if (!is_known_backend(backend))
    throw std::invalid_argument("[is_available] Unknown backend '" + std::string(backend) +
                                "'; expected one of any, mpi, ring, nccl, jaccl.");
  return (backend == "any" || backend == "mpi") && detail::mpi_built();
}

Group init(bool strict, std::string_view backend) {
  if (!is_known_backend(backend))
    throw std::invalid_argument("[init] Unknown backend '" + std::string(backend) +
                                "'; expected one of any, mpi, ring, nccl, jaccl.");
  static std::mutex mutex;
  static std::optional<Group> global;
  std::lock_guard lock(mutex);
  if (global) return *global;
  if (!is_available(backend)) {
    if (strict)
      throw std::runtime_error("[init] The '" + std::string(backend) +
                               "' backend is not available in this build of qlinear" +
                               (detail::mpi_built() ? " (it has mpi)." : " (built without MPI)."));
    global.emplace(detail::single_process());
  } else if (strict || launched_by_mpirun()) {
    global.emplace(detail::mpi_world());
  } else {
    global.emplace(detail::single_process());
  }
  return *global;
}

}  // namespace qlinear::distributed
