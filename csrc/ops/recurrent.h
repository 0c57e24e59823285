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

// in [x, mask, h0, c0, prev0] (-1 when absent), out [y, h, c, prev] (prev: the last
// valid output, carried by streams).
class RnnOp : public Op {
 public:
  RnnOp(Node node, std::shared_ptr<const RecurrentLayer> rnn) : Op(std::move(node)), rnn_(std::move(rnn)) {}
  // prev is carried between the calls of a stream so that masked steps repeat the last
  // valid output as they would in one long call.
  void run(std::vector<Tensor>& t) const override;

 private:
  std::shared_ptr<const RecurrentLayer> rnn_;
};

// in [x, mask, h0f, c0f, h0b, c0b], out [merged or y_fwd, y_bwd (mode None), hf, cf, hb, cb].
class BidirectionalOp : public Op {
 public:
  BidirectionalOp(Node node, std::shared_ptr<const RecurrentLayer> f, std::shared_ptr<const RecurrentLayer> b,
                  MergeMode mode)
      : Op(std::move(node)), f_(std::move(f)), b_(std::move(b)), mode_(mode) {
    if (f_->units() != b_->units() || f_->input_size() != b_->input_size() || f_->num_states() != b_->num_states())
      throw std::invalid_argument("layer '" + layer_ + "': forward and backward layers disagree in shape");
  }
  void run(std::vector<Tensor>& t) const override;

 private:
  std::shared_ptr<const RecurrentLayer> f_, b_;
  MergeMode mode_;
};

}  // namespace pyrnn
