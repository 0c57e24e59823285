#include "ops/param_activation.h"

#include <cmath>
#include <stdexcept>

namespace pyrnn {

void ParamActivationOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  Tensor y = Tensor::alloc(x.shape);
  const float* xp = x.ptr;
  float* yp = y.mutable_data();
  const int64_t n = x.size();
  switch (kind_) {
    case ParamActKind::Relu: {  // keras.activations.relu with parameters, step by step
      const float max_value = a_, slope = b_, thr = c_;
      for (int64_t i = 0; i < n; ++i) {
        const float v = xp[i];
        float pos = thr != 0.0f ? (v > thr ? v : 0.0f) : (v < 0.0f ? 0.0f : v);
        if (!std::isnan(max_value)) pos = pos < 0.0f ? 0.0f : (pos > max_value ? max_value : pos);
        if (slope != 0.0f) {
          const float neg = thr - v;
          pos -= slope * (neg < 0.0f ? 0.0f : neg);
        }
        yp[i] = v != v ? v : pos;
      }
      break;
    }
    case ParamActKind::LeakyRelu:
      for (int64_t i = 0; i < n; ++i) yp[i] = xp[i] >= 0.0f ? xp[i] : a_ * xp[i];
      break;
    case ParamActKind::Elu:
      for (int64_t i = 0; i < n; ++i) yp[i] = xp[i] > 0.0f ? xp[i] : a_ * std::expm1(xp[i]);
      break;
    case ParamActKind::PRelu: {
      const std::vector<int64_t> dims = non_batch(x);
      if (dims.size() != pshape_.size()) fail("PReLU input has rank " + std::to_string(x.rank()));
      for (size_t i = 0; i < dims.size(); ++i)
        if (pshape_[i] != 1 && pshape_[i] != dims[i]) fail("PReLU alpha does not fit input shape " + x.shape_str());
      const int64_t per = x.rank() ? x.size() / std::max<int64_t>(x.dim(0), 1) : 0;
      for (int64_t b = 0; b < (x.rank() ? x.dim(0) : 0); ++b) {
        const float* xb = xp + b * per;
        float* yb = yp + b * per;
        broadcast_walk(dims, pshape_, [&](int64_t e, int64_t p) {
          const float v = xb[e];
          const float pos = v < 0.0f ? 0.0f : v, neg = -v < 0.0f ? 0.0f : -v;
          yb[e] = pos + -param_[(size_t)p] * neg;
        });
      }
      break;
    }
    case ParamActKind::kCount:  // never stored: codes are checked where they cross from Python
      break;
  }
  put(t, 0, std::move(y));
}

}  // namespace pyrnn
