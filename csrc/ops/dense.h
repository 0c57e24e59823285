// Dense: the product runs on the current tier's packed GEMM.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ops/common.h"

namespace pyrnn {

// x (..., K) -> act(x @ W + b) (..., N). W is (K, N) row-major, bias (N,) or null.
class DenseOp : public Op {
 public:
  DenseOp(Node node, int64_t K, int64_t N, const float* W, const float* bias, Act act)
      : Op(std::move(node)), K_(K), N_(N), Np_(round_up(N, kPanel)), act_(act) {
    W_ = pack_panels(W, K, N, 1, 0, 1);
    b_ = pack_bias(bias, N, 1);
  }
  void run(std::vector<Tensor>& t) const override;
  // y (M, N) = act(x (M, K) @ W + b)
  void forward(const float* x, int64_t M, float* y) const;

 private:
  int64_t K_, N_, Np_;
  Act act_;
  AlignedBuffer W_, b_;
};

}  // namespace pyrnn
