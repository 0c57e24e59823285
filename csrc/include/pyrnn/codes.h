// Every enum that crosses from Python. csrc/bindings/register_codes.cc exposes each as a
// Python enum.Enum (pyrnn._core.Act, CellKind, MergeMode, MergeKind, ParamActKind,
// PoolKind, ConvPad) whose members Python uses by name, so no numeric code is mirrored in
// Python. Each enum ends with kCount, which register_codes.cc checks it registered.
//
// Included by the per-ISA kernel translation units and by CUDA code, so everything
// here is a type or a constexpr function with internal linkage (`static`): no ISA's
// compiled copy of a function can be picked by the linker for another tier's caller.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define PYRNN_HOST_DEVICE __host__ __device__
#else
#define PYRNN_HOST_DEVICE
#endif

namespace pyrnn {

enum class CellKind : int32_t { SimpleRNN = 0, LSTM = 1, GRU = 2, kCount };

// Gates per cell kind, in Keras's order: SimpleRNN 1; LSTM i, f, c, o; GRU z, r, h.
static constexpr PYRNN_HOST_DEVICE int gate_count(CellKind k) {
  return k == CellKind::LSTM ? 4 : (k == CellKind::GRU ? 3 : 1);
}

// Keras activation names (pyrnn/activations.py maps aliases and dialects onto them).
enum class Act : int32_t {
  Linear = 0,
  Tanh,
  Sigmoid,
  HardSigmoid,
  HardSigmoidK2,
  Relu,
  Relu6,
  LeakyRelu,
  Elu,
  Selu,
  Softplus,
  Softsign,
  Silu,
  Gelu,
  Exponential,
  HardSilu,
  Mish,
  HardTanh,
  LogSigmoid,
  Celu,
  TanhShrink,
  SoftShrink,
  HardShrink,
  SparsePlus,
  SparseSigmoid,
  Squareplus,
  // Row-wise activations: they normalise over the units of one gate of one sample.
  Softmax,
  LogSoftmax,
  Sparsemax,
  kCount
};

// Softmax and the like: activations over all units of a gate rather than elementwise.
static constexpr bool is_rowwise(Act a) { return a == Act::Softmax || a == Act::LogSoftmax || a == Act::Sparsemax; }

// Bidirectional merge_mode: concat, sum, mul, ave, None.
enum class MergeMode : int32_t { Concat = 0, Sum, Mul, Ave, None, kCount };

// Keras merge layers.
enum class MergeKind : int32_t { Add = 0, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, kCount };

// Activation layers with parameters.
enum class ParamActKind : int32_t { Relu = 0, LeakyRelu, Elu, PRelu, kCount };

// 1-D pooling.
enum class PoolKind : int32_t { Max = 0, Avg = 1, kCount };

// A recurrent layer's compute type: how its weights are stored and multiplied
// (pyrnn/packing.h, kernels/gemm.h, kernels/qgemm.h). Float32 is Keras-exact.
enum class ComputeType : int32_t { Float32 = 0, BFloat16, Float16, Int8, kCount };

// 1-D convolution padding (TensorFlow's rules; pooling uses Valid and Same).
enum class ConvPad : int32_t { Valid = 0, Same, Causal, kCount };

}  // namespace pyrnn
