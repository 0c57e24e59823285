// Embedding lookups.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/common.h"

namespace pyrnn {

// in [ids (B, T...)], out [y (B, T..., E), mask or -1]. ids are truncated to integers.
class EmbeddingOp : public Op {
 public:
  EmbeddingOp(Node node, int64_t V, int64_t E, const float* table, bool mask_zero)
      : Op(std::move(node)), V_(V), E_(E), table_(copy_of(table, V * E)), mask_zero_(mask_zero) {}
  void run(std::vector<Tensor>& t) const override;

 private:
  int64_t V_, E_;
  std::vector<float> table_;
  bool mask_zero_;
};

}  // namespace pyrnn
