// Recurrent layers and Bidirectional as graph ops (the layers themselves: pyrnn/layer.h).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/common.h"
#include "pyrnn/layer.h"

namespace pyrnn {

// What both recurrent ops start with: the input x (slot 0) of shape (batch, time >= 1, D)
// and its optional (batch, time) mask (slot 1).
class SequenceOp : public Op {
 protected:
  using Op::Op;
  struct Sequence {
    int64_t B, T;
    std::vector<uint8_t> mask;  // empty when the op has no mask input
  };
  Sequence sequence_input(const std::vector<Tensor>& t, int64_t D) const;
};

// in [x, mask, h0, c0, prev0] (-1 when absent), out [y, h, c, prev] (prev: the last
// valid output, carried by streams).
class RnnOp : public SequenceOp {
 public:
  RnnOp(Node node, std::shared_ptr<const RecurrentLayer> rnn) : SequenceOp(std::move(node)), rnn_(std::move(rnn)) {}
  // prev is carried between the calls of a stream so that masked steps repeat the last
  // valid output as they would in one long call.
  void run(std::vector<Tensor>& t) const override;

 private:
  std::shared_ptr<const RecurrentLayer> rnn_;
};

// in [x, mask, h0f, c0f, h0b, c0b], out [merged or y_fwd, y_bwd (mode None), hf, cf, hb, cb].
class BidirectionalOp : public SequenceOp {
 public:
  BidirectionalOp(Node node, std::shared_ptr<const RecurrentLayer> f, std::shared_ptr<const RecurrentLayer> b,
                  MergeMode mode)
      : SequenceOp(std::move(node)), f_(std::move(f)), b_(std::move(b)), mode_(mode) {
    if (f_->units() != b_->units() || f_->input_size() != b_->input_size() || f_->num_states() != b_->num_states())
      throw std::invalid_argument("layer '" + layer_ + "': forward and backward layers disagree in shape");
  }
  void run(std::vector<Tensor>& t) const override;

 private:
  std::shared_ptr<const RecurrentLayer> f_, b_;
  MergeMode mode_;
};

}  // namespace pyrnn
