// 1-D pooling: windowed and global, max and average.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/common.h"

namespace pyrnn {

// in [x (B, T, C)], out [y (B, T', C)]; padding same or valid.
class Pool1DOp : public Op {
 public:
  Pool1DOp(Node node, PoolKind kind, int64_t pool, int64_t stride, bool same)
      : Op(std::move(node)), kind_(kind), pool_(pool), stride_(stride), same_(same) {}
  void run(std::vector<Tensor>& t) const override;

 private:
  PoolKind kind_;
  int64_t pool_, stride_;
  bool same_;
};

// in [x (B, T, C), mask or -1], out [(B, C) or (B, 1, C)]. A mask gives the masked mean.
class GlobalPool1DOp : public Op {
 public:
  GlobalPool1DOp(Node node, PoolKind kind, bool keepdims) : Op(std::move(node)), kind_(kind), keepdims_(keepdims) {}
  void run(std::vector<Tensor>& t) const override;

 private:
  PoolKind kind_;
  bool keepdims_;
};

}  // namespace pyrnn
