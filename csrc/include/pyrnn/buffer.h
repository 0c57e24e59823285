// 64-byte aligned float storage, with recycling of large blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace pyrnn {

// Blocks of 1 MiB and more are recycled: a freed one is kept (up to kCachedBlocks of
// them, kCachedBytes in all) and handed to the next request it fits within a factor of
// two, so a model's large intermediates reuse memory whose pages are already mapped
// instead of taking a page fault per 4 KiB on every call.
class AlignedBuffer {
 public:
  static constexpr size_t kRecycleMin = size_t(1) << 20;
  static constexpr int kCachedBlocks = 8;
  static constexpr size_t kCachedBytes = size_t(256) << 20;
  // Blocks up to 64 KiB are recycled per thread (a few of each power-of-two size), so a
  // small model's outputs and scratch reuse memory instead of calling malloc per call.
  static constexpr size_t kSmallMax = size_t(64) << 10;

  AlignedBuffer() = default;
  explicit AlignedBuffer(int64_t n, bool zero = true);
  float* data() { return p_.get(); }
  const float* data() const { return p_.get(); }
  int64_t size() const { return n_; }

  // Frees the recycled blocks now (pyrnn.release_memory()); returns the bytes freed.
  static size_t release_cached();

 private:
  struct Free {
    Free() noexcept {}
    explicit Free(size_t b) noexcept : bytes(b) {}
    size_t bytes = 0;  // the block's size, for recycling
    void operator()(float* p) const;
  };
  std::unique_ptr<float, Free> p_;
  int64_t n_ = 0;
};

}  // namespace pyrnn
