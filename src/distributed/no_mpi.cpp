// A build without MPI (QLINEAR_MPI=OFF): init() only ever makes the group of one.
#include <stdexcept>

#include "distributed/communicator.h"

namespace qlinear::distributed::detail {

bool mpi_built() {
  return false;
}

std::shared_ptr<Communicator> mpi_world() {
  throw std::logic_error("qlinear was built without MPI (QLINEAR_MPI=OFF)");
}

}  // namespace qlinear::distributed::detail
