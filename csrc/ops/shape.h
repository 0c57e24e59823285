// Ops that only move data: Reshape, Permute, RepeatVector, TimeDistributed's fold and unfold.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ops/common.h"

namespace pyrnn {

// The non-batch shape `target` (entries >= -1, at most one -1) gives a sample of
// `per_sample` values, its -1 filled in; nullopt when they cannot agree. Python's Reshape
// converter asks for it through _core.reshape_target.
std::optional<std::vector<int64_t>> reshape_target(int64_t per_sample, const std::vector<int64_t>& target);

// Throws std::invalid_argument unless every entry of a Reshape target is >= -1 and at most one is -1.
void check_reshape_target(const std::vector<int64_t>& target);

// Non-batch target shape; at most one -1.
class ReshapeOp : public Op {
 public:
  ReshapeOp(Node node, std::vector<int64_t> target) : Op(std::move(node)), target_(std::move(target)) {}
  void run(std::vector<Tensor>& t) const override;

 private:
  std::vector<int64_t> target_;
};

// TimeDistributed: (B, T, ...) -> (B*T, ...), and back using the shape of a reference
// slot: in [x (B*T, ...), ref (B, T, ...)].
class FoldTimeOp : public Op {
 public:
  using Op::Op;
  void run(std::vector<Tensor>& t) const override;
};

class UnfoldTimeOp : public Op {
 public:
  using Op::Op;
  void run(std::vector<Tensor>& t) const override;
};

// perm: a permutation of the non-batch axes (0-based).
class PermuteOp : public Op {
 public:
  PermuteOp(Node node, std::vector<int> perm) : Op(std::move(node)), perm_(std::move(perm)) {}
  void run(std::vector<Tensor>& t) const override;

 private:
  std::vector<int> perm_;
};

// RepeatVector: (B, F) -> (B, n, F).
class RepeatOp : public Op {
 public:
  RepeatOp(Node node, int64_t n) : Op(std::move(node)), n_(n) {}
  void run(std::vector<Tensor>& t) const override;

 private:
  int64_t n_;
};

}  // namespace pyrnn
