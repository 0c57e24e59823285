// A small persistent thread pool for splitting one call's independent work (batch
// rows, the two directions of a Bidirectional layer) across cores.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

namespace pyrnn {

// Below this much arithmetic a call stays on one thread: waking a worker costs about
// as much as one small timestep.
constexpr double kMinParallelFlops = 2e6;

// Pool workers are pinned each to a CPU of its own, away from the calling thread's
// (Linux, when the process may use more CPUs than threads; PYRNN_PIN_THREADS=0 turns it
// off): see Pool::place_workers. How they are placed now, in words:
std::string thread_placement();

void set_num_threads(int n);  // n >= 1: how many threads a call may use (caller included)
int num_threads();

// Runs fn(i) for every i in [0, n) and returns when all are done; the calling thread
// takes part. When the pool is already serving another call (another Python thread,
// or a nested call), the work runs inline on the caller instead of waiting: calls
// never block each other and never deadlock. The first exception thrown is rethrown.
void parallel_for(int n, const std::function<void(int)>& fn);

// Runs fn(i) for every i in [0, n) on n threads at once, the caller being one of them:
// for work whose members wait on each other every step (SpinBarrier). Returns false,
// having run nothing, when n threads cannot be had right now (more than the configured
// threads, or the pool is serving another call or a nested one); the caller then takes
// its one-thread path.
bool parallel_team(int n, const std::function<void(int)>& fn);

// A reusable barrier for the n members of a team: each member bumps its own counter
// (its own cache line) and spins until every other member's counter has caught up, so
// a member's arrival costs one cache-line transfer to each waiter and nothing is
// contended. Waiting yields now and then.
class SpinBarrier {
 public:
  explicit SpinBarrier(int n);
  void wait(int rank);

 private:
  struct alignas(64) Slot {
    std::atomic<long> arrived{0};
  };
  const int n_;
  std::unique_ptr<Slot[]> slots_;
};

// A pause instruction for spin loops.
void cpu_relax();

}  // namespace pyrnn
