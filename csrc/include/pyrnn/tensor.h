// The float32 tensors a model plan passes between its ops, and the limit on their size.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pyrnn/buffer.h"

namespace pyrnn {

// Largest tensor a plan may allocate (bytes); default: the machine's physical memory.
// Tensor::alloc throws std::length_error beyond it, before allocating anything.
void set_tensor_memory_limit(int64_t bytes);  // <= 0: back to the default
int64_t tensor_memory_limit();

// A C-contiguous float32 array whose first axis is the batch. Either it owns a buffer
// (shared by the shallow copies that reshaping ops make) or it borrows the caller's data
// for the duration of a call.
struct Tensor {
  std::vector<int64_t> shape;
  std::shared_ptr<AlignedBuffer> buf;  // null when the data is borrowed from the caller
  const float* ptr = nullptr;

  int64_t size() const;
  int64_t dim(int i) const { return shape[static_cast<size_t>(i)]; }
  int rank() const { return static_cast<int>(shape.size()); }
  // Writable data of a tensor this op has just allocated (never of a borrowed one).
  float* mutable_data() { return buf->data(); }
  static Tensor alloc(std::vector<int64_t> shape);  // uninitialised
  static Tensor borrow(std::vector<int64_t> shape, const float* data);
  std::string shape_str() const;
};

}  // namespace pyrnn
