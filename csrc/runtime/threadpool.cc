#include "pyrnn/threadpool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
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
      std::thread([this] { loop(); }).detach();
      ++started_;
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
      generation_.fetch_add(1);
    }
    cv_.notify_all();
    work();
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [this] { return pending_ == 0 && active_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    return true;
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

  void loop() {
    long seen = 0;
    for (;;) {
      // Spin briefly for the next call before sleeping: back-to-back calls then start
      // in well under a microsecond instead of a futex wake-up (several microseconds,
      // which a batch-1 team call cannot afford).
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
      for (int i = 0; generation_.load(std::memory_order_acquire) == seen; ++i) {
        cpu_relax();
        if ((i & 255) == 255 && std::chrono::steady_clock::now() > until) break;
      }
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
  std::atomic<long> generation_{0};  // written under m_, read while spinning
  const std::function<void(int)>* fn_ = nullptr;
  int n_ = 0;
  std::atomic<int> next_{0};
  int pending_ = 0;
  int active_ = 0;
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
