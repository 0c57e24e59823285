// The contract between Python and C++: every enum of pyrnn/codes.h as a Python enum.Enum
// (py::native_enum), and the rules Python asks C++ for instead of restating them (gate
// counts, window lengths, reshape targets). Members are named as Keras names the concept,
// so Python looks them up by name (Act["tanh"]) and never sees a numeric code; a binding
// that takes one of these types rejects a bare int with TypeError.
#include <pybind11/native_enum.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/common.h"
#include "ops/shape.h"
#include "pyrnn/codes.h"

namespace py = pybind11;

namespace pyrnn {

void register_codes(py::module_& m) {
  py::native_enum<CellKind>(m, "CellKind", "enum.Enum", "Recurrent cell kinds (Keras SimpleRNN, LSTM, GRU).")
      .value("simple_rnn", CellKind::SimpleRNN)
      .value("lstm", CellKind::LSTM)
      .value("gru", CellKind::GRU)
      .finalize();

  // Keras activation names; hard_sigmoid_keras2 is tf-keras 2's hard_sigmoid (0.2x + 0.5).
  py::native_enum<Act>(m, "Act", "enum.Enum", "Activations, by their Keras names (pyrnn.activations maps aliases).")
      .value("linear", Act::Linear)
      .value("tanh", Act::Tanh)
      .value("sigmoid", Act::Sigmoid)
      .value("hard_sigmoid", Act::HardSigmoid)
      .value("hard_sigmoid_keras2", Act::HardSigmoidK2)
      .value("relu", Act::Relu)
      .value("relu6", Act::Relu6)
      .value("leaky_relu", Act::LeakyRelu)
      .value("elu", Act::Elu)
      .value("selu", Act::Selu)
      .value("softplus", Act::Softplus)
      .value("softsign", Act::Softsign)
      .value("silu", Act::Silu)
      .value("gelu", Act::Gelu)
      .value("exponential", Act::Exponential)
      .value("hard_silu", Act::HardSilu)
      .value("mish", Act::Mish)
      .value("hard_tanh", Act::HardTanh)
      .value("log_sigmoid", Act::LogSigmoid)
      .value("celu", Act::Celu)
      .value("tanh_shrink", Act::TanhShrink)
      .value("soft_shrink", Act::SoftShrink)
      .value("hard_shrink", Act::HardShrink)
      .value("sparse_plus", Act::SparsePlus)
      .value("sparse_sigmoid", Act::SparseSigmoid)
      .value("squareplus", Act::Squareplus)
      .value("softmax", Act::Softmax)
      .value("log_softmax", Act::LogSoftmax)
      .value("sparsemax", Act::Sparsemax)
      .finalize();
  static_assert(static_cast<int>(Act::kCount) == 29, "register every Act member above");

  py::native_enum<MergeMode>(m, "MergeMode", "enum.Enum", "Bidirectional merge_mode (none: Keras's None).")
      .value("concat", MergeMode::Concat)
      .value("sum", MergeMode::Sum)
      .value("mul", MergeMode::Mul)
      .value("ave", MergeMode::Ave)
      .value("none", MergeMode::None)
      .finalize();
  static_assert(static_cast<int>(MergeMode::kCount) == 5, "register every MergeMode member above");

  py::native_enum<MergeKind>(m, "MergeKind", "enum.Enum", "Keras merge layers, by class name in snake_case.")
      .value("add", MergeKind::Add)
      .value("subtract", MergeKind::Subtract)
      .value("multiply", MergeKind::Multiply)
      .value("average", MergeKind::Average)
      .value("maximum", MergeKind::Maximum)
      .value("minimum", MergeKind::Minimum)
      .value("concatenate", MergeKind::Concatenate)
      .finalize();
  static_assert(static_cast<int>(MergeKind::kCount) == 7, "register every MergeKind member above");

  py::native_enum<ParamActKind>(m, "ParamActKind", "enum.Enum", "Keras activation layers with parameters.")
      .value("relu", ParamActKind::Relu)
      .value("leaky_relu", ParamActKind::LeakyRelu)
      .value("elu", ParamActKind::Elu)
      .value("prelu", ParamActKind::PRelu)
      .finalize();
  static_assert(static_cast<int>(ParamActKind::kCount) == 4, "register every ParamActKind member above");

  py::native_enum<PoolKind>(m, "PoolKind", "enum.Enum", "1-D pooling: MaxPooling1D, AveragePooling1D.")
      .value("max", PoolKind::Max)
      .value("average", PoolKind::Avg)
      .finalize();
  static_assert(static_cast<int>(PoolKind::kCount) == 2, "register every PoolKind member above");

  py::native_enum<ComputeType>(m, "ComputeType", "enum.Enum",
                               "Recurrent layers' compute types (pyrnn's compute_type argument).")
      .value("float32", ComputeType::Float32)
      .value("bfloat16", ComputeType::BFloat16)
      .value("float16", ComputeType::Float16)
      .value("int8", ComputeType::Int8)
      .finalize();
  static_assert(static_cast<int>(ComputeType::kCount) == 4, "register every ComputeType member above");

  py::native_enum<ConvPad>(m, "ConvPad", "enum.Enum", "1-D window padding (Keras's padding option).")
      .value("valid", ConvPad::Valid)
      .value("same", ConvPad::Same)
      .value("causal", ConvPad::Causal)
      .finalize();
  static_assert(static_cast<int>(ConvPad::kCount) == 3, "register every ConvPad member above");
  static_assert(static_cast<int>(CellKind::kCount) == 3, "register every CellKind member above");

  m.def(
      "gate_count", [](CellKind k) { return gate_count(k); }, py::arg("kind"),
      "Gates per cell: weights are gate_count * units wide (SimpleRNN 1, LSTM 4, GRU 3).");
  m.def(
      "window_length",
      [](int64_t steps, int64_t size, int64_t stride, int64_t dilation, ConvPad pad) {
        if (steps < 0 || size < 1 || stride < 1 || dilation < 1)
          throw std::invalid_argument("window_length: steps must be >= 0 and size, stride, dilation >= 1");
        int64_t out, left;
        window_geometry(steps, window_span(size, dilation), stride, pad, &out, &left);
        return out;
      },
      py::arg("steps"), py::arg("size"), py::arg("stride"), py::arg("dilation"), py::arg("pad"),
      "Output steps of a 1-D window op (Conv1D, pooling) over `steps` input steps, as the op computes them.");
  m.def(
      "reshape_target",
      [](int64_t per_sample, const std::vector<int64_t>& target) -> std::optional<std::vector<int64_t>> {
        if (per_sample < 0) throw std::invalid_argument("reshape_target: per_sample must be >= 0");
        check_reshape_target(target);
        return reshape_target(per_sample, target);
      },
      py::arg("per_sample"), py::arg("target"),
      "The sample shape Reshape(target) gives `per_sample` values, its -1 filled in; None when they disagree.");
}

}  // namespace pyrnn
