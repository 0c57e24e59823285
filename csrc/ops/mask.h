// Masks: Masking, and the AND/OR of several masks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/common.h"

namespace pyrnn {

// in [x (B, T, F)], out [x * mask, mask (B, T)].
class MaskingOp : public Op {
 public:
  MaskingOp(Node node, float value) : Op(std::move(node)), value_(value) {}
  void run(std::vector<Tensor>& t) const override;

 private:
  float value_;
};

// Logical AND (any = false) or OR (any = true) of masks (nonzero = valid) of equal shapes.
class MaskCombineOp : public Op {
 public:
  MaskCombineOp(Node node, bool any) : Op(std::move(node)), any_(any) {}
  void run(std::vector<Tensor>& t) const override;

 private:
  bool any_;
};

}  // namespace pyrnn
