// The MPI backend (Open MPI): MPI_COMM_WORLD and the communicators split from it.
//
// MPI is initialised once, asking for MPI_THREAD_SERIALIZED: every call into MPI holds
// one process-wide mutex, so threads may share groups as long as each rank issues the
// collectives in the same order. MPI is finalised at exit when qlinear initialised it
// (a process that initialised MPI itself, mpi4py or MLX say, keeps that duty).
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>

#include "distributed/communicator.h"

namespace qlinear::distributed::detail {
namespace {

std::mutex& mpi_mutex() {
  static std::mutex mutex;
  return mutex;
}

bool mpi_finalized() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  return finalized != 0;
}

// Adds half-precision floats as MLX's MPI backend does: each addition in float, rounded
// to T (float arithmetic is exact enough that this is the correctly rounded T sum).
template <class T>
void add_into(void* in, void* inout, int* length, MPI_Datatype*) {
  const T* a = static_cast<const T*>(in);
  T* b = static_cast<T*>(inout);
  for (int i = 0; i < *length; ++i) b[i] = from_float<T>(to_float(a[i]) + to_float(b[i]));
}

struct MpiSession {
  MPI_Op sum_float16 = MPI_OP_NULL;
  MPI_Op sum_bfloat16 = MPI_OP_NULL;
  bool owned = false;  // qlinear called MPI_Init, so it finalises
};

void finalize_at_exit();

MpiSession& session() {
  static MpiSession state = [] {
    MpiSession s;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        throw std::runtime_error("[init] MPI_Init_thread failed");
      s.owned = true;
      std::atexit(finalize_at_exit);
    }
    MPI_Op_create(&add_into<float16_t>, /*commute=*/1, &s.sum_float16);
    MPI_Op_create(&add_into<bfloat16_t>, /*commute=*/1, &s.sum_bfloat16);
    return s;
  }();
  return state;
}

void finalize_at_exit() {
  std::lock_guard lock(mpi_mutex());
  if (mpi_finalized()) return;
  MpiSession& s = session();
  MPI_Op_free(&s.sum_float16);
  MPI_Op_free(&s.sum_bfloat16);
  MPI_Finalize();
}

int as_int(std::size_t n, const char* what) {
  if (n > static_cast<std::size_t>(INT_MAX))
    throw std::invalid_argument(std::string("[distributed] ") + what + " of " + std::to_string(n) +
                                " exceeds MPI's limit of 2^31 - 1");
  return static_cast<int>(n);
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, bool owned) : comm_(comm), owned_(owned) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiCommunicator() override {
    std::lock_guard lock(mpi_mutex());
    if (owned_ && !mpi_finalized()) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  std::shared_ptr<Communicator> split(int color, int key) override {
    MPI_Comm part = MPI_COMM_NULL;
    {
      std::lock_guard lock(mpi_mutex());
      MPI_Comm_split(comm_, color, key < 0 ? rank_ : key, &part);
    }
    return std::make_shared<MpiCommunicator>(part, /*owned=*/true);
  }

  void all_sum(void* data, std::int64_t count, Dtype dtype) override {
    const int n = as_int(static_cast<std::size_t>(count), "element count");
    MPI_Datatype type = MPI_FLOAT;
    MPI_Op op = MPI_SUM;
    if (dtype == Dtype::float16) {
      type = MPI_UINT16_T;
      op = session().sum_float16;
    } else if (dtype == Dtype::bfloat16) {
      type = MPI_UINT16_T;
      op = session().sum_bfloat16;
    }
    std::lock_guard lock(mpi_mutex());
    MPI_Allreduce(MPI_IN_PLACE, data, n, type, op, comm_);
  }

  void all_max(std::span<std::int64_t> values) override {
    std::lock_guard lock(mpi_mutex());
    MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_INT64_T,
                  MPI_MAX, comm_);
  }

  void all_gather(const void* in, void* out, std::size_t bytes) override {
    const int n = as_int(bytes, "message size");
    std::lock_guard lock(mpi_mutex());
    MPI_Allgather(in, n, MPI_BYTE, out, n, MPI_BYTE, comm_);
  }

  void send(const void* data, std::size_t bytes, int dst) override {
    const int n = as_int(bytes, "message size");
    std::lock_guard lock(mpi_mutex());
    MPI_Send(data, n, MPI_BYTE, dst, kTag, comm_);
  }

  std::size_t recv(void* data, std::size_t bytes, int src) override {
    const int n = as_int(bytes, "message size");
    std::lock_guard lock(mpi_mutex());
    MPI_Status status;
    MPI_Probe(src, kTag, comm_, &status);
    int sent = 0;
    MPI_Get_count(&status, MPI_BYTE, &sent);
    if (sent == n) {
      MPI_Recv(data, n, MPI_BYTE, src, kTag, comm_, MPI_STATUS_IGNORE);
    } else {
      std::string dropped(static_cast<std::size_t>(sent), '\0');
      MPI_Recv(dropped.data(), sent, MPI_BYTE, src, kTag, comm_, MPI_STATUS_IGNORE);
    }
    return static_cast<std::size_t>(sent);
  }

 private:
  static constexpr int kTag = 0x514c;  // "QL"
  MPI_Comm comm_;
  bool owned_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace

bool mpi_built() {
  return true;
}

std::shared_ptr<Communicator> mpi_world() {
  std::lock_guard lock(mpi_mutex());
  session();
  return std::make_shared<MpiCommunicator>(MPI_COMM_WORLD, /*owned=*/false);
}

}  // namespace qlinear::distributed::detail
