#include "pyrnn/threadpool.h"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace pyrnn {
namespace {

// Workers are detached and the pool is never destroyed: joining threads from static
// destructors at interpreter exit is a classic crash. A forked child has the pool's
// memory but not its threads, so the pool is rebuilt when the process id changes.
class Pool {
 public:
  explicit Pool(int workers) : pid_(getpid()) { grow(workers); }

  pid_t pid() const { return pid_; }

  void grow(int workers) {
    std::lock_guard<std::mutex> lk(m_);
    while (started_ < workers) {
      std::thread([this] { loop(); }).detach();
      ++started_;
    }
  }

  void run(int n, const std::function<void(int)>& fn, int helpers) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) {
      for (int i = 0; i < n; ++i) fn(i);
      return;
    }
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      n_ = n;
      next_.store(0);
      pending_ = n;
      error_ = nullptr;
      max_helpers_ = helpers;
      joined_ = 0;
      ++generation_;
    }
    cv_.notify_all();
    work();
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [this] { return pending_ == 0 && active_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
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
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return generation_ != seen; });
        seen = generation_;
        if (!fn_ || joined_ >= max_helpers_) continue;
        ++joined_;
        ++active_;
      }
      work();
      std::lock_guard<std::mutex> lk(m_);
      if (--active_ == 0 && pending_ == 0) done_cv_.notify_all();
    }
  }

  pid_t pid_;
  std::mutex busy_;  // one parallel call at a time
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  int started_ = 0;
  long generation_ = 0;
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
  if (!g_pool || g_pool->pid() != getpid()) g_pool = new Pool(workers);  // old one leaks after fork, by design
  else g_pool->grow(workers);
  return g_pool;
}

}  // namespace

void set_num_threads(int n) { g_threads.store(n < 1 ? 1 : n); }

int num_threads() { return g_threads.load(); }

void parallel_for(int n, const std::function<void(int)>& fn) {
  const int helpers = (n < g_threads.load() ? n : g_threads.load()) - 1;
  if (n <= 1 || helpers <= 0) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  pool()->run(n, fn, helpers);
}

}  // namespace pyrnn
