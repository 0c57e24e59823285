// Rescaling layers: y = x * scale + offset, elementwise.
//
// Keras computes the product and the sum as two float32 operations, so the loop keeps
// them apart (no fused multiply-add: this file is compiled for the generic ISA).
#pragma once

#include <utility>
#include <vector>

#include "ops/common.h"

namespace pyrnn {

class RescalingOp : public Op {
 public:
  RescalingOp(Node node, float scale, float offset) : Op(std::move(node)), scale_(scale), offset_(offset) {}
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    Tensor y = Tensor::alloc(x.shape);
    float* out = y.mutable_data();
    const int64_t n = x.size();
    for (int64_t i = 0; i < n; ++i) {
      const float scaled = x.ptr[i] * scale_;
      out[i] = scaled + offset_;
    }
    put(t, 0, std::move(y));
  }

 private:
  float scale_, offset_;
};

}  // namespace pyrnn
