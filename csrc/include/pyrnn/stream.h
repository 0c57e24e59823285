// Streaming inference and Keras stateful layers: a plan run one chunk of timesteps at a
// time, its recurrent states kept between calls.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "pyrnn/graph.h"

namespace pyrnn {

// A plan whose last inputs are recurrent states and whose last outputs are the same
// states after the call: the stream keeps them between calls. One call at a time per
// stream; streams share nothing.
class Stream {
 public:
  Stream(std::shared_ptr<const Graph> graph, size_t num_inputs, size_t num_outputs, std::vector<int64_t> widths,
         int64_t batch);
  // One call; the input tensors are taken over (no copies of their shapes and handles).
  std::vector<Tensor> step(std::vector<Tensor> inputs);
  std::vector<Tensor> states() const;  // copies
  void set_state(size_t i, const float* data, int64_t n);
  void reset(const std::vector<int64_t>& rows);  // empty: every row
  int64_t batch() const { return batch_; }
  size_t num_states() const { return states_.size(); }

 private:
  std::shared_ptr<const Graph> graph_;
  size_t num_inputs_, num_outputs_;
  int64_t batch_;
  std::vector<Tensor> states_;  // (batch, width) each; replaced, never written in place
  mutable std::mutex mu_;
};

}  // namespace pyrnn
