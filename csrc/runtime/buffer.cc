// AlignedBuffer and its cache of recycled large blocks.

#include "pyrnn/buffer.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "pyrnn/platform.h"

namespace pyrnn {

namespace {

// Recycled large blocks (see AlignedBuffer), most recently freed last.
struct BlockCache {
  struct Block {
    float* p;
    size_t bytes;
  };
  int64_t pid = process_id();
  std::mutex m;
  std::vector<Block> blocks;
  size_t total = 0;
};

// Never destroyed (buffers may be freed at exit). A forked child starts a new one: the
// parent's lock may have been held by a thread that does not exist in the child (the
// parent's blocks are then left alone).
BlockCache& block_cache() {
  static BlockCache* c = new BlockCache;
  if (c->pid != process_id()) c = new BlockCache;
  return *c;
}

// Small blocks (outputs, states and scratch of small layers) are recycled per thread:
// a batch-1 stream step allocates half a dozen of them, and malloc/free of aligned
// blocks (with the consolidation a multi-KiB request triggers) was a third of its time.
// Per thread, so no lock; a block freed on another thread than the one that made it
// (a numpy array released by Python) simply joins that thread's cache. Sizes are
// rounded up to a power of two so that a block fits every request of its class.
struct SmallCache {
  static constexpr int kClasses = 11;  // 64 B .. 64 KiB
  static constexpr int kPerClass = 8;
  float* blocks[kClasses][kPerClass] = {};
  int count[kClasses] = {};
  ~SmallCache();
  void clear() {
    for (int c = 0; c < kClasses; ++c) {
      for (int i = 0; i < count[c]; ++i) aligned_free(blocks[c][i]);
      count[c] = 0;
    }
  }
};

// t_small_dead is trivially destructible, so it can be read after the cache itself is
// gone (a buffer freed during this thread's exit goes straight to free()).
thread_local bool t_small_dead = false;
thread_local SmallCache t_small;
SmallCache::~SmallCache() {
  t_small_dead = true;
  clear();
}

// Under AddressSanitizer every block goes back to free(), so that a use after free of
// an op's output or scratch is still reported instead of landing in a recycled block.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kRecycleSmall = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kRecycleSmall = false;
#else
constexpr bool kRecycleSmall = true;
#endif
#else
constexpr bool kRecycleSmall = true;
#endif

// The class of a small block (its size is 64 << class), or -1 when it is not small.
int small_class(size_t bytes) {
  if (!kRecycleSmall || bytes > AlignedBuffer::kSmallMax) return -1;
  int c = 0;
  while ((size_t(64) << c) < bytes) ++c;
  return c;
}

}  // namespace

AlignedBuffer::AlignedBuffer(int64_t n, bool zero) : n_(n) {
  const size_t want = ((size_t)(n > 0 ? n : 1) * sizeof(float) + 63) / 64 * 64;
  size_t bytes = want;
  float* p = nullptr;
  if (const int c = small_class(bytes); c >= 0) {
    bytes = size_t(64) << c;
    if (!t_small_dead && t_small.count[c] > 0) p = t_small.blocks[c][--t_small.count[c]];
  } else if (bytes >= kRecycleMin) {
    BlockCache& c = block_cache();
    std::lock_guard<std::mutex> lk(c.m);
    size_t best = c.blocks.size();
    for (size_t i = 0; i < c.blocks.size(); ++i) {
      const size_t b = c.blocks[i].bytes;
      if (b >= bytes && b / 2 <= bytes && (best == c.blocks.size() || b < c.blocks[best].bytes)) best = i;
    }
    if (best < c.blocks.size()) {
      p = c.blocks[best].p;
      bytes = c.blocks[best].bytes;
      c.total -= bytes;
      c.blocks.erase(c.blocks.begin() + static_cast<std::ptrdiff_t>(best));
    }
  }
  if (!p) p = static_cast<float*>(aligned_malloc(64, bytes));
  if (!p) throw std::bad_alloc();
  if (zero) std::memset(p, 0, want);
  p_ = std::unique_ptr<float, Free>(p, Free{bytes});
}

void AlignedBuffer::Free::operator()(float* p) const {
  if (const int c = small_class(bytes); c >= 0 && (size_t(64) << c) == bytes && !t_small_dead) {
    if (t_small.count[c] < SmallCache::kPerClass) {
      t_small.blocks[c][t_small.count[c]++] = p;
      return;
    }
  }
  if (bytes >= kRecycleMin && bytes <= kCachedBytes) {
    BlockCache& c = block_cache();
    std::vector<float*> drop;
    {
      std::lock_guard<std::mutex> lk(c.m);
      // Make room, oldest first.
      size_t k = 0;
      while (k < c.blocks.size() &&
             (c.blocks.size() - k >= static_cast<size_t>(kCachedBlocks) || c.total + bytes > kCachedBytes)) {
        drop.push_back(c.blocks[k].p);
        c.total -= c.blocks[k].bytes;
        ++k;
      }
      c.blocks.erase(c.blocks.begin(), c.blocks.begin() + static_cast<std::ptrdiff_t>(k));
      c.blocks.push_back({p, bytes});
      c.total += bytes;
    }
    for (float* q : drop) aligned_free(q);
    return;
  }
  aligned_free(p);
}

size_t AlignedBuffer::release_cached() {
  if (!t_small_dead) t_small.clear();  // this thread's small blocks (not counted: they are small)
  BlockCache& c = block_cache();
  std::vector<BlockCache::Block> drop;
  size_t freed;
  {
    std::lock_guard<std::mutex> lk(c.m);
    drop.swap(c.blocks);
    freed = c.total;
    c.total = 0;
  }
  for (const auto& b : drop) aligned_free(b.p);
  return freed;
}

}  // namespace pyrnn
