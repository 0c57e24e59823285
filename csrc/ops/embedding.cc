#include "ops/embedding.h"

#include <cstring>
#include <stdexcept>

namespace pyrnn {

void EmbeddingOp::run(std::vector<Tensor>& t) const {
  const Tensor& ids = arg(t, 0);
  if (ids.rank() < 1) fail("expected integer ids of shape (batch, ...)");
  std::vector<int64_t> shape = ids.shape;
  shape.push_back(E_);
  Tensor y = Tensor::alloc(shape);
  const int64_t n = ids.size();
  for (int64_t i = 0; i < n; ++i) {
    const float f = ids.ptr[i];
    if (!(f > -(float)V_ - 1.0f && f < (float)V_))  // also refuses NaN
      fail("id " + std::to_string(f) + " is out of range for input_dim=" + std::to_string(V_));
    int64_t id = (int64_t)f;  // truncation, as Keras's cast to int
    if (id < 0) id += V_;
    if (id < 0 || id >= V_) fail("id " + std::to_string(f) + " is out of range for input_dim=" + std::to_string(V_));
    std::memcpy(y.mutable_data() + i * E_, table_.data() + id * E_, sizeof(float) * (size_t)E_);
  }
  if (mask_zero_) {
    Tensor m = Tensor::alloc(ids.shape);
    for (int64_t i = 0; i < n; ++i) m.mutable_data()[i] = (int64_t)ids.ptr[i] != 0 ? 1.0f : 0.0f;
    put(t, 1, std::move(m));
  }
  put(t, 0, std::move(y));
}

}  // namespace pyrnn
