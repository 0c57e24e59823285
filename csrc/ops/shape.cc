#include "ops/shape.h"

#include <cstring>
#include <stdexcept>

namespace pyrnn {

std::optional<std::vector<int64_t>> reshape_target(int64_t per_sample, const std::vector<int64_t>& target) {
  std::vector<int64_t> shape = target;
  int64_t known = 1;
  size_t free = target.size();
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] < 0)
      free = i;
    else
      known *= target[i];
  }
  if (free < target.size()) {
    if (known == 0 || per_sample % known) return std::nullopt;
    shape[free] = per_sample / known;
  } else if (known != per_sample) {
    return std::nullopt;
  }
  return shape;
}

void check_reshape_target(const std::vector<int64_t>& target) {
  int free = 0;
  for (int64_t d : target) {
    if (d < -1) throw std::invalid_argument("reshape target dims must be >= -1");
    free += d == -1;
  }
  if (free > 1) throw std::invalid_argument("reshape target has more than one -1");
}

void ReshapeOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  if (x.rank() < 1) fail("expected a batched input");
  const int64_t B = x.dim(0), per = B ? x.size() / B : 0;
  int64_t known = 1;
  bool free = false;
  for (int64_t d : target_) {
    free = free || d < 0;
    known *= d < 0 ? 1 : d;
  }
  std::optional<std::vector<int64_t>> sample = reshape_target(per, target_);
  if (!sample && B == 0 && !free) sample = target_;  // an empty batch has no values to disagree with
  if (!sample) {
    if (free) fail("cannot reshape " + x.shape_str() + " to the target shape");
    fail("cannot reshape " + x.shape_str() + " to a shape of " + std::to_string(known) + " values per sample");
  }
  std::vector<int64_t> shape{B};
  shape.insert(shape.end(), sample->begin(), sample->end());
  Tensor y = x;
  y.shape = shape;
  put(t, 0, std::move(y));
}

void FoldTimeOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  if (x.rank() < 3) fail("TimeDistributed expects an input of shape (batch, time, ...), got " + x.shape_str());
  Tensor y = x;
  y.shape.erase(y.shape.begin());
  y.shape[0] = x.dim(0) * x.dim(1);
  put(t, 0, std::move(y));
}

void UnfoldTimeOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  const Tensor& ref = arg(t, 1);
  if (x.rank() < 1 || x.dim(0) != ref.dim(0) * ref.dim(1)) fail("inner layer changed the number of samples");
  Tensor y = x;
  y.shape[0] = ref.dim(1);
  y.shape.insert(y.shape.begin(), ref.dim(0));
  put(t, 0, std::move(y));
}

void PermuteOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  const size_t r = perm_.size();
  if ((size_t)x.rank() != r + 1) fail("expected an input of rank " + std::to_string(r + 1) + ", got " + x.shape_str());
  const std::vector<int64_t> dims = non_batch(x);
  std::vector<int64_t> odims(r), in_stride(r);
  int64_t s = 1;
  for (size_t i = r; i-- > 0;) {
    in_stride[i] = s;
    s *= dims[i];
  }
  std::vector<int64_t> ostr(r);  // input stride of each output axis
  for (size_t i = 0; i < r; ++i) {
    odims[i] = dims[(size_t)perm_[i]];
    ostr[i] = in_stride[(size_t)perm_[i]];
  }
  std::vector<int64_t> shape{x.dim(0)};
  shape.insert(shape.end(), odims.begin(), odims.end());
  Tensor y = Tensor::alloc(shape);
  const int64_t per = s;
  for (int64_t b = 0; b < x.dim(0); ++b) {
    const float* xb = x.ptr + b * per;
    float* yb = y.mutable_data() + b * per;
    std::vector<int64_t> idx(r, 0);
    int64_t src = 0;
    for (int64_t e = 0; e < per; ++e) {
      yb[e] = xb[src];
      for (size_t i = r; i-- > 0;) {
        if (++idx[i] < odims[i]) {
          src += ostr[i];
          break;
        }
        src -= ostr[i] * (odims[i] - 1);
        idx[i] = 0;
      }
    }
  }
  put(t, 0, std::move(y));
}

void RepeatOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  if (x.rank() != 2) fail("expected input of shape (batch, features), got " + x.shape_str());
  const int64_t B = x.dim(0), F = x.dim(1);
  Tensor y = Tensor::alloc({B, n_, F});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < n_; ++i)
      std::memcpy(y.mutable_data() + (b * n_ + i) * F, x.ptr + b * F, sizeof(float) * (size_t)F);
  put(t, 0, std::move(y));
}

}  // namespace pyrnn
