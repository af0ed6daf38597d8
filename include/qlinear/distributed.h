// Communication between processes, as mlx.core.distributed: a Group of ranks and the
// collectives the sharded layers need (all_sum, all_gather, send, recv).
//
// The backend is MPI (Open MPI), present when qlinear is built with QLINEAR_MPI. Without
// it, or in a process not started by mpirun, init() gives a group of one process in
// which all_sum and all_gather copy their input and send / recv have no peer.
//
// Collectives are blocking and must be called in the same order on every rank of the
// group (MPI's rule). Calls from several threads of one process are serialised, but
// their order then differs between ranks: issue them from one thread.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "qlinear/tensor.h"

namespace qlinear::distributed {

namespace detail {
class Communicator;
}

// The processes taking part in the collectives; rank() is this process's place in it.
// A cheap handle: copies refer to the same group.
class Group {
 public:
  explicit Group(std::shared_ptr<detail::Communicator> communicator);

  int rank() const;
  int size() const;
  // Subgroups of the processes that pass the same color, ordered by key (by the rank in
  // this group where key < 0). Every rank of this group must call it.
  Group split(int color, int key = -1) const;

  detail::Communicator& communicator() const { return *communicator_; }

 private:
  std::shared_ptr<detail::Communicator> communicator_;
};

// Whether qlinear can start the backend: "mpi" and "any" when built with MPI; "ring",
// "nccl" and "jaccl" (MLX's other backends) never.
bool is_available(std::string_view backend = "any");

// The global group, created by the first call and returned by every later one.
// Started by mpirun (or with strict), it initialises MPI and spans the launched ranks;
// otherwise, or where the backend is unavailable and strict is false, it is a group of
// one. strict with an unavailable backend throws std::runtime_error.
Group init(bool strict = false, std::string_view backend = "any");

// The element-wise sum of x over the group; every rank gets the same result. float32
// sums are MPI's; float16 and bfloat16 are added pairwise in their own type, each
// addition rounded, as MLX's MPI backend does.
Tensor all_sum(const Tensor& x, const std::optional<Group>& group = std::nullopt);
// The ranks' x concatenated along the first axis in rank order (a scalar counts as
// shape (1,)). Every rank must pass the same shape and dtype.
Tensor all_gather(const Tensor& x, const std::optional<Group>& group = std::nullopt);
// Sends x to rank dst of the group and returns x (as MLX's send returns its input).
Tensor send(const Tensor& x, int dst, const std::optional<Group>& group = std::nullopt);
// Receives a tensor of this shape and dtype sent by rank src.
Tensor recv(Shape shape, Dtype dtype, int src, const std::optional<Group>& group = std::nullopt);
Tensor recv_like(const Tensor& x, int src, const std::optional<Group>& group = std::nullopt);

}  // namespace qlinear::distributed
