#include "ops/mask.h"

#include <stdexcept>

namespace pyrnn {

void MaskingOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  if (x.rank() < 3) fail("expected input of shape (batch, time, features), got " + x.shape_str());
  const int64_t F = x.shape.back(), rows = F ? x.size() / F : 0;
  Tensor y = Tensor::alloc(x.shape);
  Tensor m = Tensor::alloc(std::vector<int64_t>(x.shape.begin(), x.shape.end() - 1));
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.ptr + r * F;
    bool any = false;
    for (int64_t j = 0; j < F; ++j) any = any || xr[j] != value_;
    m.mutable_data()[r] = any ? 1.0f : 0.0f;
    for (int64_t j = 0; j < F; ++j) y.mutable_data()[r * F + j] = any ? xr[j] : 0.0f * xr[j];
  }
  put(t, 0, std::move(y));
  put(t, 1, std::move(m));
}

void MaskCombineOp::run(std::vector<Tensor>& t) const {
  const Tensor& a = arg(t, 0);
  Tensor y = Tensor::alloc(a.shape);
  const int64_t n = a.size();
  for (int64_t i = 0; i < n; ++i) y.mutable_data()[i] = a.ptr[i] != 0.0f ? 1.0f : 0.0f;
  for (size_t k = 1; k < in_.size(); ++k) {
    const Tensor& b = arg(t, k);
    if (b.shape != a.shape) fail("masks of different shapes " + a.shape_str() + " and " + b.shape_str());
    if (any_) {
      for (int64_t i = 0; i < n; ++i)
        if (b.ptr[i] != 0.0f) y.mutable_data()[i] = 1.0f;
    } else {
      for (int64_t i = 0; i < n; ++i)
        if (b.ptr[i] == 0.0f) y.mutable_data()[i] = 0.0f;
    }
  }
  put(t, 0, std::move(y));
}

}  // namespace pyrnn
