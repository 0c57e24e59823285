#include "pyrnn/threadpool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pyrnn/platform.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <emmintrin.h>  // _mm_pause (GCC, Clang and MSVC alike)
#define PYRNN_PAUSE() _mm_pause()
#elif defined(_M_ARM64) && defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#define PYRNN_PAUSE() __yield()
#elif defined(__aarch64__)
#define PYRNN_PAUSE() __asm__ __volatile__("yield")
#else
#define PYRNN_PAUSE() ((void)0)
#endif

namespace pyrnn {

void cpu_relax() { PYRNN_PAUSE(); }

namespace {

// show_config's words for the placement.
constexpr const char* kPinPolicy = "each worker pinned to a CPU of its own";
constexpr const char* kAwayHint = ", away from the calling thread's (PYRNN_PIN_THREADS=0: left to the OS)";
std::string unpinned(const char* why) { return std::string("left to the OS (") + why + ")"; }

// Spins while busy() for up to `micros`, checking the clock every 256 turns.
template <class Busy>
void spin_while(Busy busy, int micros) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(micros);
  for (int i = 0; busy(); ++i) {
    cpu_relax();
    if ((i & 255) == 255 && std::chrono::steady_clock::now() > until) return;
  }
}

bool pin_enabled() {
  const char* v = std::getenv("PYRNN_PIN_THREADS");
  return !(v && v[0] == '0' && v[1] == '\0');
}

// Workers are detached and the pool is never destroyed: joining threads from static
// destructors at interpreter exit is a classic crash. A forked child has the pool's
// memory but not its threads, so the pool is rebuilt when the process id changes.
class Pool {
 public:
  explicit Pool(int workers) : pid_(process_id()) { grow(workers); }

  int64_t pid() const { return pid_; }

  void grow(int workers) {
    std::lock_guard<std::mutex> lk(m_);
    while (started_ < workers) {
      const int k = started_++;
      tids_.push_back(0);
      pinned_.push_back(-1);
      std::thread([this, k] {
        {
          std::lock_guard<std::mutex> lk2(m_);
          tids_[k] = current_thread_os_id();
        }
        loop();
      }).detach();
    }
  }

  // Runs fn(0..n-1) with up to `helpers` workers joining the caller. Returns false, having
  // run nothing, when the pool is serving another call.
  bool try_run(int n, const std::function<void(int)>& fn, int helpers) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      n_ = n;
      next_.store(0);
      pending_ = n;
      error_ = nullptr;
      max_helpers_ = helpers;
      joined_ = 0;
      place_workers();
      generation_.fetch_add(1);
    }
    cv_.notify_all();
    work();
    // Spin for the helpers to finish rather than sleep on done_cv_: a futex wake-up of
    // the caller lets the scheduler place it on the helper's core (wake-affine), after
    // which the two share one core while the other idles, often for many calls.
    spin_while([this] { return pending_.load(std::memory_order_acquire) || active_.load(std::memory_order_acquire); },
               kSpinMicros);
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [this] { return pending_ == 0 && active_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    return true;
  }

  // How the workers are placed, in words (show_config).
  std::string placement() {
    std::lock_guard<std::mutex> lk(m_);
    if (!pin_) return unpinned(unpinned_why_);
    std::string cpus;
    for (int k = 0; k < started_; ++k)
      if (pinned_[k] >= 0) cpus += (cpus.empty() ? "" : ",") + std::to_string(pinned_[k]);
    return (cpus.empty() ? std::string(kPinPolicy) : "workers pinned to CPU " + cpus) + kAwayHint;
  }

  void run(int n, const std::function<void(int)>& fn, int helpers) {
    if (!try_run(n, fn, helpers))
      for (int i = 0; i < n; ++i) fn(i);
  }

 private:
  void work() {
    for (;;) {
      const int i = next_.fetch_add(1);
      if (i >= n_) return;
      try {
        (*fn_)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lk(m_);
        if (!error_) error_ = std::current_exception();
      }
      std::lock_guard<std::mutex> lk(m_);
      if (--pending_ == 0) done_cv_.notify_all();
    }
  }

  // Keeps every worker on a CPU of its own, away from the caller's. Left to itself, the
  // scheduler of a small VM was seen to put the caller and a worker on one core for
  // many calls in a row while the other core idled (its wake-up placement puts a woken
  // thread next to its waker, and its balancer will not move a thread that ran in the
  // last half millisecond): two-thread calls then ran at one thread's speed or below.
  // Each worker is pinned to one of the caller's CPUs; when the caller turns up on a
  // worker's CPU, that worker moves to a free one (a syscall, only then). Off when there
  // are not more CPUs than workers, off elsewhere than Linux, off with
  // PYRNN_PIN_THREADS=0; a failed pin (the CPUs allowed changed) turns it off too.
  // Called under m_.
  void place_workers() {
    if (!pin_) return;
    const int here = current_cpu();
    if (here < 0) return;
    if (cpus_.empty()) {
      int buf[1024];
      cpus_.assign(buf, buf + allowed_cpus(buf, 1024));
      if (static_cast<int>(cpus_.size()) <= started_) {
        pin_ = false;
        unpinned_why_ = "no more CPUs allowed than threads";
        return;
      }
    }
    for (int k = 0; k < started_; ++k) {
      if (tids_[k] == 0 || (pinned_[k] >= 0 && pinned_[k] != here)) continue;
      int cpu = -1;
      for (int c : cpus_) {
        bool taken = c == here;
        for (int j = 0; j < started_ && !taken; ++j) taken = pinned_[j] == c;
        if (!taken) {
          cpu = c;
          break;
        }
      }
      if (cpu < 0 || !pin_thread_to_cpu(tids_[k], cpu)) {
        pin_ = false;
        unpinned_why_ = "the OS refused a pin";
        return;
      }
      pinned_[k] = cpu;
    }
  }

  void loop() {
    long seen = 0;
    for (;;) {
      // Spin briefly for the next call before sleeping: back-to-back calls then start
      // in well under a microsecond instead of a futex wake-up (several microseconds,
      // which a batch-1 team call cannot afford).
      spin_while([&] { return generation_.load(std::memory_order_acquire) == seen; }, kSpinMicros);
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return generation_.load() != seen; });
        seen = generation_.load();
        if (!fn_ || joined_ >= max_helpers_) continue;
        ++joined_;
        ++active_;
      }
      work();
      std::lock_guard<std::mutex> lk(m_);
      if (--active_ == 0 && pending_ == 0) done_cv_.notify_all();
    }
  }

  static constexpr int kSpinMicros = 200;

  int64_t pid_;
  std::mutex busy_;  // one parallel call at a time
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  int started_ = 0;
  std::vector<int64_t> tids_;  // each worker's OS thread id (0 until it has started)
  std::vector<int> pinned_;    // the CPU each worker is pinned to, -1 if none
  std::vector<int> cpus_;      // the CPUs the workers may take (the caller's, when first asked)
  bool pin_ = pin_enabled();
  const char* unpinned_why_ = "PYRNN_PIN_THREADS=0";

  std::atomic<long> generation_{0};  // written under m_, read while spinning
  const std::function<void(int)>* fn_ = nullptr;
  int n_ = 0;
  std::atomic<int> next_{0};
  std::atomic<int> pending_{0};  // written under m_, read while spinning
  std::atomic<int> active_{0};
  int joined_ = 0;
  int max_helpers_ = 0;
  std::exception_ptr error_;
};

std::atomic<int> g_threads{1};
std::mutex g_pool_mutex;
Pool* g_pool = nullptr;

Pool* pool() {
  std::lock_guard<std::mutex> lk(g_pool_mutex);
  const int workers = g_threads.load() - 1;
  if (!g_pool || g_pool->pid() != process_id())
    g_pool = new Pool(workers);  // old one leaks after fork, by design
  else
    g_pool->grow(workers);
  return g_pool;
}

}  // namespace

std::string thread_placement() {
  if (g_threads.load() <= 1) return "one thread: the caller's";
#if defined(__linux__)
  {
    std::lock_guard<std::mutex> lk(g_pool_mutex);
    if (g_pool && g_pool->pid() == process_id()) return g_pool->placement();
  }
  return pin_enabled() ? std::string(kPinPolicy) + kAwayHint : unpinned("PYRNN_PIN_THREADS=0");
#else
  return "left to the OS";
#endif
}

void set_num_threads(int n) { g_threads.store(n < 1 ? 1 : n); }

int num_threads() { return g_threads.load(); }

bool parallel_team(int n, const std::function<void(int)>& fn) {
  if (n < 1 || n > g_threads.load()) return false;
  if (n == 1) {
    fn(0);
    return true;
  }
  return pool()->try_run(n, fn, n - 1);
}

SpinBarrier::SpinBarrier(int n) : n_(n), slots_(new Slot[n]) {}

void SpinBarrier::wait(int rank) {
  const long mine = slots_[rank].arrived.fetch_add(1, std::memory_order_acq_rel) + 1;
  // Yield now and then: with more runnable threads than cores, a pure spin would keep
  // the member we wait for off its core.
  for (int other = 0; other < n_; ++other)
    for (int i = 1; other != rank && slots_[other].arrived.load(std::memory_order_acquire) < mine; ++i) {
      cpu_relax();
      if ((i & 1023) == 0) std::this_thread::yield();
    }
}

void parallel_for(int n, const std::function<void(int)>& fn) {
  const int helpers = (n < g_threads.load() ? n : g_threads.load()) - 1;
  if (n <= 1 || helpers <= 0) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  pool()->run(n, fn, helpers);
}

}  // namespace pyrnn
