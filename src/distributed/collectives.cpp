// all_sum, all_gather, send, recv: argument checks in MLX's words, then the transport.
#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>

#include "distributed/communicator.h"
#include "qlinear/distributed.h"

namespace qlinear::distributed {
namespace {

Group group_or_global(const std::optional<Group>& group) {
  return group ? *group : init();
}

void check_dtype(const char* op, Dtype dtype) {
  if (dtype != Dtype::float32 && dtype != Dtype::float16 && dtype != Dtype::bfloat16)
    throw std::invalid_argument(std::string("[") + op + "] Only float32, float16 and bfloat16 " +
                                "tensors are supported, got " + std::string(name_of(dtype)) + ".");
}

void check_peer(const char* op, const char* role, int peer, const Group& group) {
  if (peer < 0 || peer >= group.size())
    throw std::invalid_argument(std::string("[") + op + "] Invalid " + role + " rank " +
                                std::to_string(peer) + " for a group of size " +
                                std::to_string(group.size()) + ".");
  if (peer == group.rank())
    throw std::invalid_argument(std::string("[") + op + "] The " + role + " rank " +
                                std::to_string(peer) + " is this process's own rank.");
}

// Every rank must pass the same dtype and shape: one small all-reduce of (d, -d) for the
// descriptor d finds any rank that differs, and every rank then throws.
void check_same_on_every_rank(const char* op, const Tensor& x, const Group& group) {
  if (group.size() == 1) return;
  constexpr int kDims = 6;  // dims beyond these are covered by the element count
  std::array<std::int64_t, 3 + kDims> descriptor{};
  descriptor[0] = static_cast<std::int64_t>(x.dtype());
  descriptor[1] = x.ndim();
  descriptor[2] = x.size();
  for (int i = 0; i < std::min(x.ndim(), kDims); ++i) descriptor[3 + i] = x.dim(i);
  std::array<std::int64_t, 2 * descriptor.size()> bounds{};
  for (std::size_t i = 0; i < descriptor.size(); ++i) {
    bounds[i] = descriptor[i];
    bounds[descriptor.size() + i] = -descriptor[i];
  }
  group.communicator().all_max(bounds);
  for (std::size_t i = 0; i < descriptor.size(); ++i)
    if (bounds[i] != -bounds[descriptor.size() + i])
      throw std::invalid_argument(std::string("[") + op + "] Every rank must pass the same " +
                                  "shape and dtype; rank " + std::to_string(group.rank()) +
                                  " has " + shape_string(x.shape()) + " " +
                                  std::string(name_of(x.dtype())) + " and another rank differs.");
}

}  // namespace

Tensor all_sum(const Tensor& x, const std::optional<Group>& group) {
  const Group g = group_or_global(group);
  check_dtype("all_sum", x.dtype());
  check_same_on_every_rank("all_sum", x, g);
  Tensor sum = x.copy();
  if (g.size() > 1 && sum.size() > 0)
    g.communicator().all_sum(sum.mutable_data(), sum.size(), sum.dtype());
  return sum;
}

Tensor all_gather(const Tensor& x, const std::optional<Group>& group) {
  const Group g = group_or_global(group);
  check_dtype("all_gather", x.dtype());
  check_same_on_every_rank("all_gather", x, g);
  Shape shape = x.ndim() == 0 ? Shape{1} : x.shape();
  shape[0] *= g.size();
  Tensor gathered = Tensor::zeros(std::move(shape), x.dtype());
  if (x.size() > 0) g.communicator().all_gather(x.data(), gathered.mutable_data(), x.nbytes());
  return gathered;
}

Tensor send(const Tensor& x, int dst, const std::optional<Group>& group) {
  const Group g = group_or_global(group);
  check_dtype("send", x.dtype());
  check_peer("send", "destination", dst, g);
  g.communicator().send(x.data(), x.nbytes(), dst);
  return x;
}

Tensor recv(Shape shape, Dtype dtype, int src, const std::optional<Group>& group) {
  const Group g = group_or_global(group);
  check_dtype("recv", dtype);
  check_peer("recv", "source", src, g);
  Tensor received = Tensor::zeros(std::move(shape), dtype);
  const std::size_t sent = g.communicator().recv(received.mutable_data(), received.nbytes(), src);
  if (sent != received.nbytes())
    throw std::invalid_argument("[recv] Expected " + std::to_string(received.nbytes()) +
                                " bytes (" + shape_string(received.shape()) + " " +
                                std::string(name_of(dtype)) + ") from rank " + std::to_string(src) +
                                ", but it sent " + std::to_string(sent) + ".");
  return received;
}

Tensor recv_like(const Tensor& x, int src, const std::optional<Group>& group) {
  return recv(x.shape(), x.dtype(), src, group);
}

}  // namespace qlinear::distributed
