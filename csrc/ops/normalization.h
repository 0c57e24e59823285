// Normalisation: per-feature affine maps (BatchNormalization at inference) and LayerNormalization.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/common.h"

namespace pyrnn {

// x * scale + shift, both of shape `pshape` broadcast over the non-batch axes
// (BatchNormalization at inference).
class AffineOp : public Op {
 public:
  AffineOp(Node node, std::vector<int64_t> pshape, const float* scale, const float* shift)
      : Op(std::move(node)), pshape_(std::move(pshape)) {
    int64_t n = 1;
    for (int64_t d : pshape_) n *= d;
    scale_ = copy_of(scale, n);
    shift_ = copy_of(shift, n);
  }
  void run(std::vector<Tensor>& t) const override;

 private:
  std::vector<int64_t> pshape_;
  std::vector<float> scale_, shift_;
};

// Normalises the trailing `n` values of each row (Keras LayerNormalization).
class LayerNormOp : public Op {
 public:
  LayerNormOp(Node node, int64_t n, const float* gamma, const float* beta, float eps, bool rms)
      : Op(std::move(node)), n_(n), gamma_(copy_of(gamma, n)), beta_(copy_of(beta, n)), eps_(eps), rms_(rms) {}
  void run(std::vector<Tensor>& t) const override;

 private:
  int64_t n_;
  std::vector<float> gamma_, beta_;
  float eps_;
  bool rms_;
};

}  // namespace pyrnn
