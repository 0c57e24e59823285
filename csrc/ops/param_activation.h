// Activation layers with parameters: ReLU with options, LeakyReLU, ELU, PReLU.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/common.h"

namespace pyrnn {

// Relu(max_value (NaN: none), negative_slope, threshold), LeakyRelu(slope), Elu(alpha),
// PRelu(alpha of shape `pshape`, broadcast over the non-batch axes).
class ParamActivationOp : public Op {
 public:
  ParamActivationOp(Node node, ParamActKind kind, float a, float b, float c, std::vector<int64_t> pshape,
                    const float* param)
      : Op(std::move(node)), kind_(kind), a_(a), b_(b), c_(c), pshape_(std::move(pshape)) {
    int64_t n = 1;
    for (int64_t d : pshape_) n *= d;
    param_ = copy_of(param, n);
  }
  void run(std::vector<Tensor>& t) const override;

 private:
  ParamActKind kind_;
  float a_, b_, c_;
  std::vector<int64_t> pshape_;
  std::vector<float> param_;
};

}  // namespace pyrnn
