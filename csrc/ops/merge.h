// Keras merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate), plain and mask-aware.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/common.h"

namespace pyrnn {

// axis: for Concatenate, an axis >= 1 of the full shape.
class MergeOp : public Op {
 public:
  MergeOp(Node node, MergeKind kind, int axis) : Op(std::move(node)), kind_(kind), axis_(axis) {}
  void run(std::vector<Tensor>& t) const override;

 private:
  void concat(std::vector<Tensor>& t) const;

  MergeKind kind_;
  int axis_;
};

// Keras 3's Maximum / Minimum / Multiply with masks. in = [x_0..x_{n-1}, m_0..m_{n-1}]
// (-1 for an unmasked input); masks are (B, T) over x of shape (B, T, ...).
// Maximum/Minimum: a masked position of a new input takes the running output, and a
// masked position of the running output takes the new input, before the op
// (keras/src/layers/merging/base_merge.py, _apply_merge_op_and_or_mask).
// Multiply: masked positions count as 1; when every input is masked, positions that
// no mask marks valid become 0 (merging/multiply.py).
class MaskedMergeOp : public Op {
 public:
  MaskedMergeOp(Node node, MergeKind kind) : Op(std::move(node)), kind_(kind) {}
  void run(std::vector<Tensor>& t) const override;

 private:
  MergeKind kind_;
};

}  // namespace pyrnn
