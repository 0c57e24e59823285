#include "ops/pool.h"

#include <limits>
#include <stdexcept>

namespace pyrnn {

void Pool1DOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  if (x.rank() != 3) fail("expected input of shape (batch, time, channels), got " + x.shape_str());
  const int64_t B = x.dim(0), T = x.dim(1), C = x.dim(2);
  int64_t Tout, left;
  window_geometry(T, pool_, stride_, same_ ? ConvPad::Same : ConvPad::Valid, &Tout, &left);
  if (Tout < 1)
    fail("the input has " + std::to_string(T) + " timesteps, fewer than pool_size " + std::to_string(pool_));
  Tensor y = Tensor::alloc({B, Tout, C});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t o = 0; o < Tout; ++o) {
      const int64_t s0 = std::max<int64_t>(o * stride_ - left, 0),
                    s1 = std::min<int64_t>(o * stride_ - left + pool_, T);
      float* yr = y.mutable_data() + (b * Tout + o) * C;
      for (int64_t c = 0; c < C; ++c) {
        float acc = kind_ == PoolKind::Max ? -std::numeric_limits<float>::infinity() : 0.0f;
        for (int64_t s = s0; s < s1; ++s) {
          const float v = x.ptr[(b * T + s) * C + c];
          if (kind_ == PoolKind::Max)
            acc = (v > acc || v != v) ? v : acc;
          else
            acc += v;
        }
        yr[c] = kind_ == PoolKind::Max ? acc : acc / (float)(s1 - s0);
      }
    }
  put(t, 0, std::move(y));
}

void GlobalPool1DOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  if (x.rank() != 3) fail("expected input of shape (batch, time, channels), got " + x.shape_str());
  const int64_t B = x.dim(0), T = x.dim(1), C = x.dim(2);
  const Tensor* m = has_arg(1) ? &arg(t, 1) : nullptr;
  if (m && (m->rank() != 2 || m->dim(0) != B || m->dim(1) != T))
    fail("mask " + m->shape_str() + " does not fit input " + x.shape_str());
  Tensor y = keepdims_ ? Tensor::alloc({B, 1, C}) : Tensor::alloc({B, C});
  std::vector<double> acc((size_t)C);
  for (int64_t b = 0; b < B; ++b) {
    float* yr = y.mutable_data() + b * C;
    if (kind_ == PoolKind::Max) {
      for (int64_t c = 0; c < C; ++c) {
        float v = -std::numeric_limits<float>::infinity();
        for (int64_t s = 0; s < T; ++s) {
          const float u = x.ptr[(b * T + s) * C + c];
          v = (u > v || u != u) ? u : v;
        }
        yr[c] = v;
      }
      continue;
    }
    std::fill(acc.begin(), acc.end(), 0.0);
    double count = 0;
    for (int64_t s = 0; s < T; ++s) {
      const double w = m ? (m->ptr[b * T + s] != 0.0f ? 1.0 : 0.0) : 1.0;
      count += w;
      if (w == 0.0) continue;
      for (int64_t c = 0; c < C; ++c) acc[(size_t)c] += x.ptr[(b * T + s) * C + c];
    }
    for (int64_t c = 0; c < C; ++c) yr[c] = (float)(acc[(size_t)c] / count);  // 0/0 = NaN, as Keras
  }
  put(t, 0, std::move(y));
}

}  // namespace pyrnn
