// Activation layers: one elementwise (or, for softmax & co., last-axis) activation.
//
// The whole op lives in this header: a new elementwise op is one such file plus its
// registration line in bindings/register_graph.cc.
#pragma once

#include <cstring>
#include <utility>
#include <vector>

#include "ops/common.h"

namespace pyrnn {

class ActivationOp : public Op {
 public:
  ActivationOp(Node node, Act act) : Op(std::move(node)), act_(act) {}
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    Tensor y = Tensor::alloc(x.shape);
    const int64_t n = x.size();
    if (n) std::memcpy(y.mutable_data(), x.ptr, sizeof(float) * (size_t)n);
    const int64_t last = x.rank() > 1 ? x.shape.back() : 1;
    if (last > 0) apply_act(act_, y.mutable_data(), n / last, last);
    put(t, 0, std::move(y));
  }

 private:
  Act act_;
};

}  // namespace pyrnn
