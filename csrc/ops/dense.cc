#include "ops/dense.h"

#include <cstring>
#include <stdexcept>

#include "pyrnn/isa.h"

namespace pyrnn {

void DenseOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  if (x.rank() < 2 || x.shape.back() != K_)
    fail("expected input of shape (batch, ..., " + std::to_string(K_) + "), got " + x.shape_str());
  std::vector<int64_t> shape = x.shape;
  shape.back() = N_;
  Tensor y = Tensor::alloc(shape);
  const int64_t M = x.size() / K_;
  forward(x.ptr, M, y.mutable_data());
  put(t, 0, std::move(y));
}

void DenseOp::forward(const float* x, int64_t M, float* y) const {
  const KernelTable& k = current_kernels();
  split_rows(M, 2.0 * M * K_ * N_, [&](int64_t r0, int64_t r1) {
    constexpr int64_t kRows = 64;
    AlignedBuffer tmp(std::min(kRows, r1 - r0) * Np_, false);
    for (int64_t r = r0; r < r1; r += kRows) {
      const int64_t m = std::min(kRows, r1 - r);
      for (int64_t i = 0; i < m; ++i) std::memcpy(tmp.data() + i * Np_, b_.data(), sizeof(float) * (size_t)Np_);
      k.gemm(true, m, Np_ / kPanel, K_, x + r * K_, K_, W_.data(), tmp.data(), Np_);
      for (int64_t i = 0; i < m; ++i) std::memcpy(y + (r + i) * N_, tmp.data() + i * Np_, sizeof(float) * (size_t)N_);
      apply_act(act_, y + r * N_, m, N_);
    }
  });
}

}  // namespace pyrnn
