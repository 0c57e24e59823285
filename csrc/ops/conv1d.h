// Conv1D on the current tier's packed GEMM, one GEMM per kernel tap.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ops/common.h"

namespace pyrnn {

// in [x (B, T, Cin)], out [y (B, T', Cout)]. kernel (k, Cin, Cout).
class Conv1DOp : public Op {
 public:
  Conv1DOp(Node node, int64_t k, int64_t cin, int64_t cout, const float* kernel, const float* bias, int64_t stride,
           int64_t dilation, ConvPad pad, Act act)
      : Op(std::move(node)),
        k_(k),
        cin_(cin),
        cout_(cout),
        np_(round_up(cout, kPanel)),
        stride_(stride),
        dil_(dilation),
        pad_(pad),
        act_(act) {
    const int64_t tap = np_ * cin;
    W_ = AlignedBuffer(k * tap);
    for (int64_t j = 0; j < k; ++j) {
      AlignedBuffer p = pack_panels(kernel + j * cin * cout, cin, cout, 1, 0, 1);
      std::memcpy(W_.data() + j * tap, p.data(), sizeof(float) * (size_t)tap);
    }
    b_ = pack_bias(bias, cout, 1);
  }
  void run(std::vector<Tensor>& t) const override;

 private:
  int64_t k_, cin_, cout_, np_, stride_, dil_;
  ConvPad pad_;
  Act act_;
  AlignedBuffer W_, b_;
};

}  // namespace pyrnn
