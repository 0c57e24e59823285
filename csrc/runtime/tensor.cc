// Tensors and the memory limit on their allocation.

#include "pyrnn/tensor.h"

#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "pyrnn/platform.h"

namespace pyrnn {

int64_t Tensor::size() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace {

std::atomic<int64_t>& memory_limit() {
  static std::atomic<int64_t> limit{physical_memory_bytes()};
  return limit;
}

std::string gib(double bytes) {  // human-readable size
  static const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 5) {
    bytes /= 1024.0;
    ++u;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
  return buf;
}

}  // namespace

void set_tensor_memory_limit(int64_t bytes) { memory_limit() = bytes > 0 ? bytes : physical_memory_bytes(); }
int64_t tensor_memory_limit() { return memory_limit(); }

Tensor Tensor::alloc(std::vector<int64_t> shape) {
  Tensor t;
  t.shape = std::move(shape);
  // Refuse before allocating: a hostile model (RepeatVector(2**40), ...) or a huge
  // input must give an error, not an out-of-memory kill.
  const int64_t limit = memory_limit();
  int64_t n = 1;
  bool too_big = false;
  for (int64_t d : t.shape) {
    if (d < 0) throw std::length_error("negative dimension in tensor shape " + t.shape_str());
    if (d && n > (limit / 4) / d) too_big = true;
    n = too_big ? n : n * d;
  }
  if (too_big || n * 4 > limit) {
    double bytes = 4.0;
    for (int64_t d : t.shape) bytes *= (double)d;
    throw std::length_error("an intermediate tensor of shape " + t.shape_str() + " would need " + gib(bytes) +
                            ", more than the memory limit of " + gib((double)limit) +
                            " (pyrnn.set_memory_limit); use a smaller batch (predict's batch_size)");
  }
  t.buf = std::make_shared<AlignedBuffer>(n, /*zero=*/false);
  t.ptr = t.buf->data();
  return t;
}

Tensor Tensor::borrow(std::vector<int64_t> shape, const float* data) {
  Tensor t;
  t.shape = std::move(shape);
  t.ptr = data;
  return t;
}

std::string Tensor::shape_str() const {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace pyrnn
