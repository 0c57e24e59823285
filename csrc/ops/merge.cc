#include "ops/merge.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace pyrnn {

void MergeOp::run(std::vector<Tensor>& t) const {
  const Tensor& a = arg(t, 0);
  if (kind_ == MergeKind::Concatenate) return concat(t);
  for (size_t k = 1; k < in_.size(); ++k)
    if (arg(t, k).shape != a.shape)
      fail("inputs have different shapes " + a.shape_str() + " and " + arg(t, k).shape_str());
  Tensor y = Tensor::alloc(a.shape);
  float* yp = y.mutable_data();
  const int64_t n = a.size();
  if (n) std::memcpy(yp, a.ptr, sizeof(float) * (size_t)n);
  for (size_t k = 1; k < in_.size(); ++k) {
    const float* b = arg(t, k).ptr;
    switch (kind_) {
      case MergeKind::Add:
      case MergeKind::Average:
        for (int64_t i = 0; i < n; ++i) yp[i] += b[i];
        break;
      case MergeKind::Subtract:
        for (int64_t i = 0; i < n; ++i) yp[i] -= b[i];
        break;
      case MergeKind::Multiply:
        for (int64_t i = 0; i < n; ++i) yp[i] *= b[i];
        break;
      case MergeKind::Maximum:
        for (int64_t i = 0; i < n; ++i) yp[i] = std::fmax(yp[i], b[i]);
        break;
      case MergeKind::Minimum:
        for (int64_t i = 0; i < n; ++i) yp[i] = std::fmin(yp[i], b[i]);
        break;
      case MergeKind::Concatenate:  // handled by concat()
      case MergeKind::kCount:       // never stored: codes are checked where they cross from Python
        break;
    }
  }
  if (kind_ == MergeKind::Average) {
    const float k = (float)in_.size();
    for (int64_t i = 0; i < n; ++i) yp[i] /= k;
  }
  put(t, 0, std::move(y));
}

void MergeOp::concat(std::vector<Tensor>& t) const {
  const Tensor& a = arg(t, 0);
  if (axis_ < 1 || axis_ >= a.rank()) fail("concatenation axis out of range for input " + a.shape_str());
  std::vector<int64_t> shape = a.shape;
  shape[(size_t)axis_] = 0;
  for (size_t k = 0; k < in_.size(); ++k) {
    const Tensor& b = arg(t, k);
    bool ok = b.rank() == a.rank();
    for (int i = 0; ok && i < a.rank(); ++i) ok = i == axis_ || b.dim(i) == a.dim(i);
    if (!ok)
      fail("cannot concatenate " + a.shape_str() + " and " + b.shape_str() + " on axis " + std::to_string(axis_));
    shape[(size_t)axis_] += b.dim(axis_);
  }
  Tensor y = Tensor::alloc(shape);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis_; ++i) outer *= a.dim(i);
  for (int i = axis_ + 1; i < a.rank(); ++i) inner *= a.dim(i);
  const int64_t orow = shape[(size_t)axis_] * inner;
  int64_t off = 0;
  for (size_t k = 0; k < in_.size(); ++k) {
    const Tensor& b = arg(t, k);
    const int64_t brow = b.dim(axis_) * inner;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(y.mutable_data() + o * orow + off, b.ptr + o * brow, sizeof(float) * (size_t)brow);
    off += brow;
  }
  put(t, 0, std::move(y));
}

void MaskedMergeOp::run(std::vector<Tensor>& t) const {
  const size_t n = in_.size() / 2;
  const Tensor& a = arg(t, 0);
  if (a.rank() < 2) fail("masked merge needs inputs of shape (batch, time, ...), got " + a.shape_str());
  const int64_t rows = a.dim(0) * a.dim(1), size = a.size(), inner = rows ? size / rows : 0;
  std::vector<const float*> masks(n, nullptr);
  for (size_t k = 0; k < n; ++k) {
    if (arg(t, k).shape != a.shape)
      fail("inputs have different shapes " + a.shape_str() + " and " + arg(t, k).shape_str());
    if (has_arg(n + k)) {
      const Tensor& m = arg(t, n + k);
      if (m.rank() != 2 || m.dim(0) != a.dim(0) || m.dim(1) != a.dim(1))
        fail("mask " + m.shape_str() + " does not fit input " + a.shape_str());
      masks[k] = m.ptr;
    }
  }
  Tensor y = Tensor::alloc(a.shape);
  float* out = y.mutable_data();
  if (kind_ == MergeKind::Multiply) {
    bool all = true;
    for (const float* m : masks) all = all && m;
    for (int64_t e = 0; e < size; ++e) {
      const int64_t p = e / inner;
      float acc = 0.0f;
      bool any_valid = false;
      for (size_t k = 0; k < n; ++k) {
        const float* m = masks[k];
        const float v = (m && m[p] == 0.0f) ? 1.0f : arg(t, k).ptr[e];
        any_valid = any_valid || (m && m[p] != 0.0f);
        acc = k == 0 ? v : acc * v;
      }
      out[e] = (all && !any_valid) ? 0.0f : acc;
    }
  } else {
    const bool mx = kind_ == MergeKind::Maximum;
    std::vector<uint8_t> om((size_t)rows, 1);
    bool has_om = masks[0] != nullptr;
    if (has_om)
      for (int64_t p = 0; p < rows; ++p) om[(size_t)p] = masks[0][p] != 0.0f;
    if (size) std::memcpy(out, a.ptr, sizeof(float) * (size_t)size);
    for (size_t k = 1; k < n; ++k) {
      const float* xk = arg(t, k).ptr;
      const float* m = masks[k];
      for (int64_t e = 0; e < size; ++e) {
        const int64_t p = e / inner;
        float v = xk[e];
        if (m && m[p] == 0.0f) v = out[e];
        float o = out[e];
        if (has_om && !om[(size_t)p]) o = v;
        out[e] = mx ? (o > v || o != o ? o : v) : (o < v || o != o ? o : v);
      }
      if (has_om && m) {
        for (int64_t p = 0; p < rows; ++p) om[(size_t)p] = om[(size_t)p] || m[p] != 0.0f;
      } else {
        has_om = false;
      }
    }
  }
  put(t, 0, std::move(y));
}

}  // namespace pyrnn
