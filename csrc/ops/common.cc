#include "ops/common.h"

#include <cstring>
#include <stdexcept>

#include "pyrnn/isa.h"

namespace pyrnn {

std::vector<float> copy_of(const float* p, int64_t n) {
  return p ? std::vector<float>(p, p + n) : std::vector<float>();
}

void apply_act(Act act, float* y, int64_t rows, int64_t n) {
  if (act == Act::Linear || rows == 0 || n == 0) return;
  const KernelTable& k = current_kernels();
  if (act == Act::Sparsemax) {  // the kernel sorts in the n floats after each row
    AlignedBuffer tmp(2 * n, false);
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(tmp.data(), y + r * n, sizeof(float) * (size_t)n);
      k.activation(act, tmp.data(), 1, n, 2 * n);
      std::memcpy(y + r * n, tmp.data(), sizeof(float) * (size_t)n);
    }
  } else if (act == Act::Softmax || act == Act::LogSoftmax) {
    k.activation(act, y, rows, n, n);
  } else {
    k.activation(act, y, 1, rows * n, rows * n);
  }
}

std::vector<int64_t> non_batch(const Tensor& x) { return std::vector<int64_t>(x.shape.begin() + 1, x.shape.end()); }

std::vector<uint8_t> mask_bytes(const Tensor& m, int64_t B, int64_t T, const std::string& who) {
  if (m.rank() != 2 || m.dim(0) != B || m.dim(1) != T)
    throw std::invalid_argument("layer '" + who + "': mask " + m.shape_str() +
                                " does not match the input's (batch, time)");
  std::vector<uint8_t> out((size_t)(B * T));
  for (int64_t i = 0; i < B * T; ++i) out[(size_t)i] = m.ptr[i] != 0.0f;
  return out;
}

void window_geometry(int64_t T, int64_t span, int64_t stride, ConvPad pad, int64_t* Tout, int64_t* left) {
  switch (pad) {
    case ConvPad::Valid:
    case ConvPad::kCount:  // never stored: codes are checked where they cross from Python
      *left = 0;
      *Tout = T >= span ? (T - span) / stride + 1 : 0;
      break;
    case ConvPad::Same: {
      *Tout = (T + stride - 1) / stride;
      const int64_t total = std::max<int64_t>((*Tout - 1) * stride + span - T, 0);
      *left = total / 2;
      break;
    }
    case ConvPad::Causal:
      *left = span - 1;
      *Tout = (T - 1) / stride + 1;
      break;
  }
}

}  // namespace pyrnn
