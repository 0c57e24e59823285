#include "ops/shape.h"

#include <cstring>
#include <stdexcept>

namespace pyrnn {

void ReshapeOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  if (x.rank() < 1) fail("expected a batched input");
  const int64_t B = x.dim(0), per = B ? x.size() / B : 0;
  std::vector<int64_t> shape{B};
  int64_t known = 1, free = -1;
  for (size_t i = 0; i < target_.size(); ++i) {
    if (target_[i] < 0)
      free = (int64_t)i + 1;
    else
      known *= target_[i];
    shape.push_back(target_[i]);
  }
  if (free >= 0) {
    if (known == 0 || (B && per % known)) fail("cannot reshape " + x.shape_str() + " to the target shape");
    shape[(size_t)free] = B ? per / known : 0;
  } else if (B && known != per) {
    fail("cannot reshape " + x.shape_str() + " to a shape of " + std::to_string(known) + " values per sample");
  }
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
