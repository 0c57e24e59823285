#include "ops/normalization.h"

#include <cmath>
#include <stdexcept>

namespace pyrnn {

void AffineOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  const std::vector<int64_t> dims = non_batch(x);
  bool ok = x.rank() >= 1 && dims.size() == pshape_.size();
  for (size_t i = 0; ok && i < dims.size(); ++i) ok = pshape_[i] == 1 || pshape_[i] == dims[i];
  if (!ok) fail("input shape " + x.shape_str() + " does not fit the layer's parameters");
  Tensor y = Tensor::alloc(x.shape);
  const int64_t B = x.dim(0), per = B ? x.size() / B : 0;
  for (int64_t b = 0; b < B; ++b) {
    const float* xb = x.ptr + b * per;
    float* yb = y.mutable_data() + b * per;
    broadcast_walk(dims, pshape_, [&](int64_t e, int64_t p) { yb[e] = xb[e] * scale_[(size_t)p] + shift_[(size_t)p]; });
  }
  put(t, 0, std::move(y));
}

void LayerNormOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  int64_t tail = 1;
  for (int i = x.rank() - 1; i >= 1 && tail < n_; --i) tail *= x.dim(i);
  if (x.rank() < 2 || tail != n_)
    fail("expected the normalised axes to hold " + std::to_string(n_) + " values, got input " + x.shape_str());
  Tensor y = Tensor::alloc(x.shape);
  const int64_t rows = x.size() / n_;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.ptr + r * n_;
    float* yr = y.mutable_data() + r * n_;
    double mean = 0;
    for (int64_t j = 0; j < n_; ++j) mean += xr[j];
    mean /= (double)n_;
    double var = 0;
    for (int64_t j = 0; j < n_; ++j) var += ((double)xr[j] - mean) * ((double)xr[j] - mean);
    var /= (double)n_;
    const float inv0 = (float)(1.0 / std::sqrt(var + (double)eps_));
    const float meanf = (float)mean;
    for (int64_t j = 0; j < n_; ++j) {
      const float inv = gamma_.empty() ? inv0 : inv0 * gamma_[(size_t)j];
      if (rms_) {
        yr[j] = xr[j] * inv;
      } else {
        float res = -meanf * inv;
        if (!beta_.empty()) res += beta_[(size_t)j];
        yr[j] = xr[j] * inv + res;
      }
    }
  }
  put(t, 0, std::move(y));
}

}  // namespace pyrnn
