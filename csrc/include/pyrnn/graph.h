// A whole model as a plan: numbered tensor slots and a list of ops, built once by the
// Python layer (which owns the Keras meaning) and run in one native call.
//
// Every slot holds a float32 tensor whose first axis is the batch. Shapes are only
// known at run time (the batch and, often, the number of timesteps vary), so each op
// checks its inputs and names its layer when they do not fit. Masks are ordinary
// (batch, time) slots holding 0/1.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pyrnn/layer.h"

namespace pyrnn {

// Largest tensor a plan may allocate (bytes); default: the machine's physical memory.
// Tensor::alloc throws std::length_error beyond it, before allocating anything.
void set_tensor_memory_limit(int64_t bytes);  // <= 0: back to the default
int64_t tensor_memory_limit();

struct Tensor {
  std::vector<int64_t> shape;
  std::shared_ptr<AlignedBuffer> buf;  // null when the data is borrowed from the caller
  const float* ptr = nullptr;

  int64_t size() const;
  int64_t dim(int i) const { return shape[static_cast<size_t>(i)]; }
  int rank() const { return static_cast<int>(shape.size()); }
  float* mut() const { return buf->data(); }
  static Tensor alloc(std::vector<int64_t> shape);  // uninitialised
  static Tensor borrow(std::vector<int64_t> shape, const float* data);
  std::string shape_str() const;
};

class Op {
 public:
  Op(std::string layer, std::vector<int> in, std::vector<int> out)
      : layer_(std::move(layer)), in_(std::move(in)), out_(std::move(out)) {}
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
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) const;

 private:
  int num_slots_ = 0;
  std::vector<int> inputs_, outputs_;
  std::vector<std::unique_ptr<Op>> ops_;
  std::vector<std::vector<int>> release_;  // slots no later op reads, freed after op i
};

// A plan whose last inputs are recurrent states and whose last outputs are the same
// states after the call: the stream keeps them between calls (streaming inference and
// Keras stateful layers). One call at a time per stream; streams share nothing.
class Stream {
 public:
  Stream(std::shared_ptr<const Graph> graph, size_t num_inputs, size_t num_outputs, std::vector<int64_t> widths,
         int64_t batch);
  std::vector<Tensor> step(const std::vector<Tensor>& inputs);
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

// ---- op factories (graph.cc) --------------------------------------------------------
// `in`/`out` are slot lists in the order documented per op; weights are copied/packed.

enum class PoolKind { Max = 0, Avg = 1 };
enum class MergeKind { Add = 0, Subtract, Multiply, Average, Maximum, Minimum, Concatenate };
enum class ParamActKind { Relu = 0, LeakyRelu, Elu, PRelu };
enum class ConvPad { Valid = 0, Same, Causal };

// x (..., K) -> act(x @ W + b) (..., N). W is (K, N) row-major, bias (N,) or null.
std::unique_ptr<Op> make_dense(std::string layer, std::vector<int> in, std::vector<int> out, int64_t K,
                               int64_t N, const float* W, const float* bias, Act act);
// Elementwise (or, for softmax & co., over the last axis) activation.
std::unique_ptr<Op> make_activation(std::string layer, std::vector<int> in, std::vector<int> out, Act act);
// Relu(max_value (NaN: none), negative_slope, threshold), LeakyRelu(slope), Elu(alpha),
// PRelu(alpha of shape `pshape`, broadcast over the non-batch axes).
std::unique_ptr<Op> make_param_activation(std::string layer, std::vector<int> in, std::vector<int> out,
                                          ParamActKind kind, float a, float b, float c,
                                          std::vector<int64_t> pshape, const float* param);
// x * scale + shift, both of shape `pshape` broadcast over the non-batch axes.
std::unique_ptr<Op> make_affine(std::string layer, std::vector<int> in, std::vector<int> out,
                                std::vector<int64_t> pshape, const float* scale, const float* shift);
// Normalises the trailing `n` values of each row (Keras LayerNormalization).
std::unique_ptr<Op> make_layer_norm(std::string layer, std::vector<int> in, std::vector<int> out, int64_t n,
                                    const float* gamma, const float* beta, float eps, bool rms_scaling);
// in [ids (B, T...)], out [y (B, T..., E), mask or -1]. ids are truncated to integers.
std::unique_ptr<Op> make_embedding(std::string layer, std::vector<int> in, std::vector<int> out, int64_t V,
                                   int64_t E, const float* table, bool mask_zero);
// in [x (B, T, F)], out [x * mask, mask (B, T)].
std::unique_ptr<Op> make_masking(std::string layer, std::vector<int> in, std::vector<int> out, float value);
// in [x, mask, h0, c0, prev0] (-1 when absent), out [y, h, c, prev] (prev: the last
// valid output, carried by streams).
std::unique_ptr<Op> make_rnn(std::string layer, std::vector<int> in, std::vector<int> out,
                             std::shared_ptr<const RecurrentLayer> cell);
// in [x, mask, h0f, c0f, h0b, c0b], out [merged or y_fwd, y_bwd (mode None), hf, cf, hb, cb].
std::unique_ptr<Op> make_bidirectional(std::string layer, std::vector<int> in, std::vector<int> out,
                                       std::shared_ptr<const RecurrentLayer> fwd,
                                       std::shared_ptr<const RecurrentLayer> bwd, MergeMode mode);
// Non-batch target shape; at most one -1.
std::unique_ptr<Op> make_reshape(std::string layer, std::vector<int> in, std::vector<int> out,
                                 std::vector<int64_t> target);
// perm: a permutation of the non-batch axes (0-based).
std::unique_ptr<Op> make_permute(std::string layer, std::vector<int> in, std::vector<int> out, std::vector<int> perm);
std::unique_ptr<Op> make_repeat(std::string layer, std::vector<int> in, std::vector<int> out, int64_t n);
// axis: for Concatenate, an axis >= 1 of the full shape.
std::unique_ptr<Op> make_merge(std::string layer, std::vector<int> in, std::vector<int> out, MergeKind kind, int axis);
// Keras 3's mask-aware Maximum / Minimum / Multiply: in = [x_0..x_{n-1}, m_0..m_{n-1}]
// with -1 for unmasked inputs.
std::unique_ptr<Op> make_masked_merge(std::string layer, std::vector<int> in, std::vector<int> out, MergeKind kind);
// Logical AND (any = false) or OR (any = true) of masks (nonzero = valid) of equal shapes.
std::unique_ptr<Op> make_mask_combine(std::string layer, std::vector<int> in, std::vector<int> out, bool any);
// in [x (B, T, Cin)], out [y (B, T', Cout)]. kernel (k, Cin, Cout).
std::unique_ptr<Op> make_conv1d(std::string layer, std::vector<int> in, std::vector<int> out, int64_t k,
                                int64_t cin, int64_t cout, const float* kernel, const float* bias, int64_t stride,
                                int64_t dilation, ConvPad pad, Act act);
// in [x (B, T, C)], out [y (B, T', C)]; padding same or valid.
std::unique_ptr<Op> make_pool1d(std::string layer, std::vector<int> in, std::vector<int> out, PoolKind kind,
                                int64_t pool, int64_t stride, bool same);
// in [x (B, T, C), mask or -1], out [(B, C) or (B, 1, C)]. A mask gives the masked mean.
std::unique_ptr<Op> make_global_pool1d(std::string layer, std::vector<int> in, std::vector<int> out, PoolKind kind,
                                       bool keepdims);
// TimeDistributed: (B, T, ...) -> (B*T, ...), and back using the shape of a reference
// slot: in [x (B*T, ...), ref (B, T, ...)].
std::unique_ptr<Op> make_fold_time(std::string layer, std::vector<int> in, std::vector<int> out);
std::unique_ptr<Op> make_unfold_time(std::string layer, std::vector<int> in, std::vector<int> out);

}  // namespace pyrnn
