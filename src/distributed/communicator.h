// The transport under qlinear::distributed: what one backend (MPI, or the single
// process) provides. The collectives in collectives.cpp check their arguments and
// then trust these calls, as the ops trust the kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "qlinear/dtype.h"

namespace qlinear::distributed::detail {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::shared_ptr<Communicator> split(int color, int key) = 0;

  // Element-wise sum over the ranks of count elements of a float dtype, in place.
  virtual void all_sum(void* data, std::int64_t count, Dtype dtype) = 0;
  // Element-wise maximum over the ranks, in place (the argument-agreement checks).
  virtual void all_max(std::span<std::int64_t> values) = 0;
  // bytes from every rank into out (size() * bytes), in rank order.
  virtual void all_gather(const void* in, void* out, std::size_t bytes) = 0;
  virtual void send(const void* data, std::size_t bytes, int dst) = 0;
  // Receives the next message from src into data when it holds exactly `bytes`; a
  // message of another length is consumed and dropped. Returns the length sent.
  virtual std::size_t recv(void* data, std::size_t bytes, int src) = 0;
};

// The group of this process alone.
std::shared_ptr<Communicator> single_process();

// Whether this build has the MPI backend; mpi_world() initialises MPI (once) and returns
// MPI_COMM_WORLD. Only defined where mpi_built() is true.
bool mpi_built();
std::shared_ptr<Communicator> mpi_world();

}  // namespace qlinear::distributed::detail
