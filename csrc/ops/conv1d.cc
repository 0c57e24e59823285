#include "ops/conv1d.h"

#include <cstring>
#include <stdexcept>

#include "pyrnn/isa.h"

namespace pyrnn {

void Conv1DOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  if (x.rank() != 3 || x.dim(2) != cin_)
    fail("expected input of shape (batch, time, " + std::to_string(cin_) + "), got " + x.shape_str());
  const int64_t B = x.dim(0), T = x.dim(1), span = window_span(k_, dil_);
  int64_t Tout, left;
  window_geometry(T, span, stride_, pad_, &Tout, &left);
  if (Tout < 1)
    fail("the input has " + std::to_string(T) + " timesteps, fewer than the kernel's span " + std::to_string(span));
  Tensor y = Tensor::alloc({B, Tout, cout_});
  const KernelTable& kt = current_kernels();
  split_rows(B, 2.0 * B * Tout * k_ * cin_ * cout_, [&](int64_t b0, int64_t b1) {
    AlignedBuffer tmp(Tout * np_, false);
    for (int64_t b = b0; b < b1; ++b) {
      for (int64_t i = 0; i < Tout; ++i) std::memcpy(tmp.data() + i * np_, b_.data(), sizeof(float) * (size_t)np_);
      for (int64_t j = 0; j < k_; ++j) {
        const int64_t shift = j * dil_ - left;  // input index = t*stride + shift
        int64_t lo = shift >= 0 ? 0 : (-shift + stride_ - 1) / stride_;
        int64_t hi = (T - 1 - shift) >= 0 ? (T - 1 - shift) / stride_ : -1;
        hi = std::min(hi, Tout - 1);
        if (hi < lo) continue;
        kt.gemm(true, hi - lo + 1, np_ / kPanel, cin_, x.ptr + (b * T + lo * stride_ + shift) * cin_, stride_ * cin_,
                W_.data() + j * np_ * cin_, tmp.data() + lo * np_, np_);
      }
      float* yb = y.mutable_data() + b * Tout * cout_;
      for (int64_t i = 0; i < Tout; ++i)
        std::memcpy(yb + i * cout_, tmp.data() + i * np_, sizeof(float) * (size_t)cout_);
      apply_act(act_, yb, Tout, cout_);
    }
  });
  put(t, 0, std::move(y));
}

}  // namespace pyrnn
