// Op's shared checks and the plan's run loop.

#include "pyrnn/graph.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

namespace pyrnn {

void Op::fail(const std::string& what) const { throw std::invalid_argument("layer '" + layer_ + "': " + what); }

const float* Op::state_arg(const std::vector<Tensor>& t, size_t i, int64_t B, int64_t H, const char* what) const {
  if (!has_arg(i)) return nullptr;
  const Tensor& st = arg(t, i);
  if (st.rank() != 2 || st.dim(0) != B || st.dim(1) != H)
    fail(std::string(what) + " must have shape (" + std::to_string(B) + ", " + std::to_string(H) + "), got " +
         st.shape_str());
  return st.ptr;
}

void Graph::finalize(int num_slots, std::vector<int> inputs, std::vector<int> outputs,
                     std::vector<std::vector<int>> release_after) {
  if (release_after.size() != ops_.size()) throw std::invalid_argument("plan: one release list per op is needed");
  release_ = std::move(release_after);
  auto check = [&](int s) {
    if (s < 0 || s >= num_slots) throw std::invalid_argument("plan refers to a slot out of range");
  };
  for (const auto& op : ops_) {
    for (int s : op->inputs())
      if (s != -1) check(s);
    for (int s : op->outputs())
      if (s != -1) check(s);
  }
  for (const auto& r : release_)
    for (int s : r) check(s);
  for (int s : inputs) check(s);
  for (int s : outputs) check(s);
  num_slots_ = num_slots;
  inputs_ = std::move(inputs);
  outputs_ = std::move(outputs);
}

std::vector<Tensor> Graph::run(const std::vector<Tensor>& inputs, double* op_seconds) const {
  check_input_count(inputs.size());
  std::vector<Tensor> t(static_cast<size_t>(num_slots_));
  for (size_t i = 0; i < inputs.size(); ++i) t[static_cast<size_t>(inputs_[i])] = inputs[i];
  return run_slots(t, op_seconds);
}

std::vector<Tensor> Graph::run(std::vector<Tensor>&& inputs, double* op_seconds) const {
  check_input_count(inputs.size());
  std::vector<Tensor> t(static_cast<size_t>(num_slots_));
  for (size_t i = 0; i < inputs.size(); ++i) t[static_cast<size_t>(inputs_[i])] = std::move(inputs[i]);
  return run_slots(t, op_seconds);
}

void Graph::check_input_count(size_t n) const {
  if (n != inputs_.size())
    throw std::invalid_argument("expected " + std::to_string(inputs_.size()) + " inputs, got " + std::to_string(n));
}

std::vector<Tensor> Graph::run_slots(std::vector<Tensor>& t, double* op_seconds) const {
  for (size_t i = 0; i < ops_.size(); ++i) {
    for (int s : ops_[i]->inputs())
      if (s >= 0 && t[static_cast<size_t>(s)].ptr == nullptr && t[static_cast<size_t>(s)].size() != 0)
        throw std::logic_error("plan reads a slot before it is written");
    try {
      if (op_seconds == nullptr) {
        ops_[i]->run(t);
      } else {
        const auto t0 = std::chrono::steady_clock::now();
        ops_[i]->run(t);
        op_seconds[i] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      }
    } catch (const std::length_error& e) {
      throw std::invalid_argument("layer '" + ops_[i]->layer() + "': " + e.what());
    }
    for (int s : release_[i]) t[static_cast<size_t>(s)] = Tensor{};
  }
  std::vector<Tensor> out;
  out.reserve(outputs_.size());
  for (size_t k = 0; k < outputs_.size(); ++k) {  // moved out, unless a later output is the same slot
    Tensor& v = t[static_cast<size_t>(outputs_[k])];
    const bool again =
        std::find(outputs_.begin() + static_cast<std::ptrdiff_t>(k) + 1, outputs_.end(), outputs_[k]) != outputs_.end();
    if (again)
      out.push_back(v);
    else
      out.push_back(std::move(v));
  }
  return out;
}

}  // namespace pyrnn
