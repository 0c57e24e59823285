// AlignedBuffer and its cache of recycled large blocks.

#include "pyrnn/buffer.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace pyrnn {

namespace {

// Recycled large blocks (see AlignedBuffer), most recently freed last.
struct BlockCache {
  struct Block {
    float* p;
    size_t bytes;
  };
  pid_t pid = getpid();
  std::mutex m;
  std::vector<Block> blocks;
  size_t total = 0;
};

// Never destroyed (buffers may be freed at exit). A forked child starts a new one: the
// parent's lock may have been held by a thread that does not exist in the child (the
// parent's blocks are then left alone).
BlockCache& block_cache() {
  static BlockCache* c = new BlockCache;
  if (c->pid != getpid()) c = new BlockCache;
  return *c;
}

}  // namespace

AlignedBuffer::AlignedBuffer(int64_t n, bool zero) : n_(n) {
  const size_t want = ((size_t)(n > 0 ? n : 1) * sizeof(float) + 63) / 64 * 64;
  size_t bytes = want;
  float* p = nullptr;
  if (bytes >= kRecycleMin) {
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
  if (!p) p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw std::bad_alloc();
  if (zero) std::memset(p, 0, want);
  p_ = std::unique_ptr<float, Free>(p, Free{bytes});
}

void AlignedBuffer::Free::operator()(float* p) const {
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
    for (float* q : drop) std::free(q);
    return;
  }
  std::free(p);
}

size_t AlignedBuffer::release_cached() {
  BlockCache& c = block_cache();
  std::vector<BlockCache::Block> drop;
  size_t freed;
  {
    std::lock_guard<std::mutex> lk(c.m);
    drop.swap(c.blocks);
    freed = c.total;
    c.total = 0;
  }
  for (const auto& b : drop) std::free(b.p);
  return freed;
}

}  // namespace pyrnn
