// Streams: a plan's recurrent states kept between calls.

#include "pyrnn/stream.h"

#include <cstring>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>

namespace pyrnn {

Stream::Stream(std::shared_ptr<const Graph> graph, size_t num_inputs, size_t num_outputs, std::vector<int64_t> widths,
               int64_t batch)
    : graph_(std::move(graph)), num_inputs_(num_inputs), num_outputs_(num_outputs), batch_(batch) {
  if (batch < 1) throw std::invalid_argument("a stream needs a batch size >= 1");
  if (graph_->num_inputs() != num_inputs + widths.size())
    throw std::invalid_argument("stream: the plan's inputs do not match its states");
  for (int64_t w : widths) {
    Tensor st = Tensor::alloc({batch, w});
    std::memset(st.mutable_data(), 0, sizeof(float) * (size_t)st.size());
    states_.push_back(std::move(st));
  }
}

std::vector<Tensor> Stream::step(std::vector<Tensor> inputs) {
  if (inputs.size() != num_inputs_)
    throw std::invalid_argument("expected " + std::to_string(num_inputs_) + " inputs, got " +
                                std::to_string(inputs.size()));
  for (const Tensor& x : inputs)
    if (x.rank() < 1 || x.dim(0) != batch_)
      throw std::invalid_argument("this stream has batch size " + std::to_string(batch_) + ", got an input of shape " +
                                  x.shape_str());
  std::lock_guard<std::mutex> lock(mu_);  // one call at a time per stream
  std::vector<Tensor> in;
  in.reserve(inputs.size() + states_.size());
  in.insert(in.end(), std::make_move_iterator(inputs.begin()), std::make_move_iterator(inputs.end()));
  in.insert(in.end(), states_.begin(), states_.end());
  std::vector<Tensor> out = graph_->run(std::move(in));
  if (out.size() != num_outputs_ + states_.size()) throw std::logic_error("stream plan returned the wrong outputs");
  for (size_t i = 0; i < states_.size(); ++i) {
    Tensor st = out[num_outputs_ + i];
    bool shared = !st.buf;  // borrowed: a state passed straight through
    for (size_t k = 0; k < num_outputs_ && !shared; ++k) shared = out[k].buf == st.buf;
    if (shared) {  // the caller may write to its outputs: keep a private copy
      Tensor c = Tensor::alloc(st.shape);
      if (st.size()) std::memcpy(c.mutable_data(), st.ptr, sizeof(float) * (size_t)st.size());
      st = std::move(c);
    }
    states_[i] = std::move(st);
  }
  out.resize(num_outputs_);
  return out;
}

std::vector<Tensor> Stream::states() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Tensor> copies;
  for (const Tensor& s : states_) {
    Tensor c = Tensor::alloc(s.shape);
    if (s.size()) std::memcpy(c.mutable_data(), s.ptr, sizeof(float) * (size_t)s.size());
    copies.push_back(std::move(c));
  }
  return copies;
}

void Stream::set_state(size_t i, const float* data, int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  if (i >= states_.size()) throw std::invalid_argument("no such state");
  if (n != states_[i].size()) throw std::invalid_argument("state size mismatch");
  Tensor c = Tensor::alloc(states_[i].shape);
  if (n) std::memcpy(c.mutable_data(), data, sizeof(float) * (size_t)n);
  states_[i] = std::move(c);
}

void Stream::reset(const std::vector<int64_t>& rows) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t r : rows)
    if (r < 0 || r >= batch_) throw std::invalid_argument("row " + std::to_string(r) + " is outside the batch");
  for (Tensor& s : states_) {
    Tensor c = Tensor::alloc(s.shape);
    const int64_t w = s.dim(1);
    if (rows.empty()) {
      std::memset(c.mutable_data(), 0, sizeof(float) * (size_t)c.size());
    } else {
      std::memcpy(c.mutable_data(), s.ptr, sizeof(float) * (size_t)s.size());
      for (int64_t r : rows) std::memset(c.mutable_data() + r * w, 0, sizeof(float) * (size_t)w);
    }
    s = std::move(c);
  }
}

}  // namespace pyrnn
