// A whole model as a plan: numbered tensor slots and a list of ops, built once by the
// Python layer (which owns the Keras meaning) and run in one native call.
//
// Every slot holds a float32 tensor whose first axis is the batch. Shapes are only
// known at run time (the batch and, often, the number of timesteps vary), so each op
// checks its inputs and names its layer when they do not fit. Masks are ordinary
// (batch, time) slots holding 0/1.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pyrnn/tensor.h"

namespace pyrnn {

// Where an op sits in the plan: the Keras layer it comes from (for messages) and its
// input and output slots, in the order each op documents; -1 marks an absent optional
// slot.
struct Node {
  std::string layer;
  std::vector<int> in, out;
};

class Op {
 public:
  explicit Op(Node node) : layer_(std::move(node.layer)), in_(std::move(node.in)), out_(std::move(node.out)) {}
  virtual ~Op() = default;
  virtual void run(std::vector<Tensor>& t) const = 0;
  const std::vector<int>& inputs() const { return in_; }
  const std::string& layer() const { return layer_; }
  const std::vector<int>& outputs() const { return out_; }

 protected:
  [[noreturn]] void fail(const std::string& what) const;  // std::invalid_argument naming the layer
  const Tensor& arg(const std::vector<Tensor>& t, size_t i) const { return t[static_cast<size_t>(in_[i])]; }
  bool has_arg(size_t i) const { return i < in_.size() && in_[i] >= 0; }
  // Optional (B, H) state input i: its data, or null when absent; a wrong shape fails.
  const float* state_arg(const std::vector<Tensor>& t, size_t i, int64_t B, int64_t H, const char* what) const;
  void put(std::vector<Tensor>& t, size_t i, Tensor v) const {
    if (i < out_.size() && out_[i] >= 0) t[static_cast<size_t>(out_[i])] = std::move(v);
  }

  std::string layer_;
  std::vector<int> in_, out_;  // slot numbers; -1 for an absent optional input/output
};

// Every op is made the same way: its node, then its own constructor arguments (weights
// are copied or packed by the op, so the caller's arrays need not outlive the call).
template <class T, class... Args>
std::unique_ptr<Op> make_op(Node node, Args&&... args) {
  return std::make_unique<T>(std::move(node), std::forward<Args>(args)...);
}

class Graph {
 public:
  void add(std::unique_ptr<Op> op) { ops_.push_back(std::move(op)); }
  // Completes the plan: the slot count, the input and output slots, and per op the
  // slots no later op reads (freed as soon as that op is done). Checks every index.
  void finalize(int num_slots, std::vector<int> inputs, std::vector<int> outputs,
                std::vector<std::vector<int>> release_after);
  size_t num_inputs() const { return inputs_.size(); }
  size_t num_ops() const { return ops_.size(); }
  // Runs the plan. Inputs are borrowed for the duration of the call; outputs own their
  // memory unless they alias an input (check Tensor::buf). Thread-safe.
  //
  // op_seconds: null (the normal case), or num_ops() doubles to which each op adds its
  // own wall time (steady clock) in this call. The timings belong to the caller, so a
  // profiled call shares nothing with concurrent calls on the same plan; when it is
  // null the loop pays one predictable branch per op.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, double* op_seconds = nullptr) const;
  // The same, taking the input tensors over (no copies of their shapes and handles).
  std::vector<Tensor> run(std::vector<Tensor>&& inputs, double* op_seconds = nullptr) const;

 private:
  void check_input_count(size_t n) const;
  std::vector<Tensor> run_slots(std::vector<Tensor>& t, double* op_seconds) const;  // t: the filled slots

  int num_slots_ = 0;
  std::vector<int> inputs_, outputs_;
  std::vector<std::unique_ptr<Op>> ops_;
  std::vector<std::vector<int>> release_;  // slots no later op reads, freed after op i
};

}  // namespace pyrnn
