// Graph: the model plan that the pyrnn/convert/ package builds op by op; Graph.run executes a
// whole predict call with the GIL released. The builder methods are private API: Python
// has already validated shapes and options and produces the messages users see, so the
// checks here only keep a misuse of _core from reaching an op with inconsistent sizes.
//
// One .def per op. Ops with one input and one output take (layer, ins, outs, ...); ops
// whose slot positions carry meaning (recurrent, bidirectional, masks, TimeDistributed)
// take each slot as a keyword argument (-1: absent) and put it in the position the op's
// header documents, so the converter never spells a position. Codes arrive as the enum
// types of register_codes.cc, so they are valid by construction.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "arrays.h"
#include "ops/activation.h"
#include "ops/conv1d.h"
#include "ops/dense.h"
#include "ops/embedding.h"
#include "ops/mask.h"
#include "ops/merge.h"
#include "ops/normalization.h"
#include "ops/param_activation.h"
#include "ops/pool.h"
#include "ops/recurrent.h"
#include "ops/rescaling.h"
#include "ops/shape.h"
#include "pyrnn/graph.h"

namespace py = pybind11;

namespace pyrnn {
namespace {

using Slots = std::vector<int>;

template <class T, class... Args>
void add_op(Graph& g, std::string layer, Slots in, Slots out, Args... args) {
  g.add(make_op<T>(Node{std::move(layer), std::move(in), std::move(out)}, std::move(args)...));
}

void need_size(const farray& a, int64_t n, const char* what) {
  if (a.size() != n) throw std::invalid_argument(std::string(what) + " has the wrong size");
}

// Model.predict's fast entry: a stateless plan with one input, called with one plain
// float32 array of the input's rank and fixed sizes (plain_farray). Anything else gets
// None, and predict takes its full path. The plan runs with the GIL released, as every
// predict does (releasing and re-taking it costs ~40 ns; a shared model never blocks Python).
struct FastRun {
  std::shared_ptr<const Graph> graph;
  int ndim;
  FixedDims fixed;

  py::object call(py::handle x, py::handle out) const {
    PyObject* o = x.ptr();
    const bool has_out = !out.is_none();
    if (!plain_farray(o, ndim, fixed) || (has_out && !plain_farray(out.ptr(), -1, {}, true))) return py::none();
    std::vector<Tensor> in;
    in.push_back(borrow_plain(o, false));
    std::vector<Tensor> y;
    {
      py::gil_scoped_release nogil;  // the input array stays alive in the caller's frame
      y = graph->run(std::move(in));
    }
    if (has_out) {
      if (y.size() != 1 || !write_into(y[0], out.ptr())) return py::none();  // the full path names the problem
      return py::reinterpret_borrow<py::object>(out);
    }
    if (y.size() == 1) return fresh_numpy(y[0]);
    return to_list(y);
  }
};

}  // namespace

void register_graph(py::module_& m) {
  using namespace pybind11::literals;
  const auto none = py::none();
  py::class_<FastRun>(m, "FastRun", "Model.predict's fast entry for one plain float32 input (None: not taken).")
      .def(py::init([](std::shared_ptr<Graph> g, int ndim, FixedDims fixed) {
             if (g->num_inputs() != 1) throw std::invalid_argument("FastRun: the plan must take one input");
             return FastRun{std::move(g), ndim, std::move(fixed)};
           }),
           "graph"_a, "ndim"_a, "fixed"_a)
      .def("__call__", &FastRun::call, "x"_a, "out"_a = none,
           "The outputs for x (written into `out` and returned, when given), or None when x (or out) is not "
           "a plain float32 C-contiguous numpy array of the expected rank and sizes.");
  py::class_<Graph, std::shared_ptr<Graph>>(m, "Graph", "A whole model as a plan of ops over tensor slots.")
      .def(py::init<>())
      .def_property_readonly("num_inputs", &Graph::num_inputs)
      .def_property_readonly("num_ops", &Graph::num_ops)
      .def(
          "dense",
          [](Graph& g, std::string l, Slots in, Slots out, const farray& W, const std::optional<farray>& b, Act act) {
            if (W.ndim() != 2) throw std::invalid_argument("dense kernel must be 2-D");
            const int64_t K = W.shape(0), N = W.shape(1);
            if (b) need_size(*b, N, "dense bias");
            add_op<DenseOp>(g, l, in, out, K, N, W.data(), opt_ptr(b), act);
          },
          "layer"_a, "ins"_a, "outs"_a, "kernel"_a, "bias"_a, "act"_a)
      .def("activation", &add_op<ActivationOp, Act>, "layer"_a, "ins"_a, "outs"_a, "act"_a)
      .def("rescaling", &add_op<RescalingOp, float, float>, "layer"_a, "ins"_a, "outs"_a, "scale"_a, "offset"_a)
      .def(
          "param_activation",
          [](Graph& g, std::string l, Slots in, Slots out, ParamActKind k, float a, float b, float c,
             const std::optional<farray>& param) {
            if (k == ParamActKind::PRelu && !param) throw std::invalid_argument("PReLU needs alpha");
            add_op<ParamActivationOp>(g, l, in, out, k, a, b, c, param ? shape_of(*param) : std::vector<int64_t>(),
                                      opt_ptr(param));
          },
          "layer"_a, "ins"_a, "outs"_a, "kind"_a, "a"_a, "b"_a, "c"_a, "param"_a = none)
      .def(
          "affine",
          [](Graph& g, std::string l, Slots in, Slots out, const farray& scale, const farray& shift) {
            if (scale.ndim() != shift.ndim() || scale.size() != shift.size())
              throw std::invalid_argument("scale and shift shapes differ");
            add_op<AffineOp>(g, l, in, out, shape_of(scale), scale.data(), shift.data());
          },
          "layer"_a, "ins"_a, "outs"_a, "scale"_a, "shift"_a)
      .def(
          "layer_norm",
          [](Graph& g, std::string l, Slots in, Slots out, int64_t n, const std::optional<farray>& gamma,
             const std::optional<farray>& beta, float eps, bool rms) {
            if (n < 1) throw std::invalid_argument("layer_norm size must be >= 1");
            if (gamma) need_size(*gamma, n, "gamma");
            if (beta) need_size(*beta, n, "beta");
            add_op<LayerNormOp>(g, l, in, out, n, opt_ptr(gamma), opt_ptr(beta), eps, rms);
          },
          "layer"_a, "ins"_a, "outs"_a, "size"_a, "gamma"_a, "beta"_a, "eps"_a, "rms"_a)
      .def(
          "embedding",
          [](Graph& g, std::string l, int x, int y, int mask, const farray& table, bool mask_zero) {
            if (table.ndim() != 2) throw std::invalid_argument("embedding table must be 2-D");
            add_op<EmbeddingOp>(g, l, {x}, {y, mask}, table.shape(0), table.shape(1), table.data(), mask_zero);
          },
          "layer"_a, py::kw_only(), "x"_a, "y"_a, "mask"_a = -1, "table"_a, "mask_zero"_a)
      .def(
          "masking",
          [](Graph& g, std::string l, int x, int y, int mask, float value) {
            add_op<MaskingOp>(g, l, {x}, {y, mask}, value);
          },
          "layer"_a, py::kw_only(), "x"_a, "y"_a, "mask"_a, "mask_value"_a)
      .def(
          "rnn",
          [](Graph& g, std::string l, std::shared_ptr<RecurrentLayer> rnn, int x, int y, int mask, int h0, int c0,
             int prev0, int h, int c, int prev) {
            add_op<RnnOp>(g, l, {x, mask, h0, c0, prev0}, {y, h, c, prev},
                          std::shared_ptr<const RecurrentLayer>(std::move(rnn)));
          },
          "layer"_a, "rnn"_a, py::kw_only(), "x"_a, "y"_a, "mask"_a = -1, "h0"_a = -1, "c0"_a = -1, "prev0"_a = -1,
          "h"_a = -1, "c"_a = -1, "prev"_a = -1)
      .def(
          "bidirectional",
          [](Graph& g, std::string l, std::shared_ptr<RecurrentLayer> f, std::shared_ptr<RecurrentLayer> b,
             MergeMode mode, int x, int y, int mask, int h0f, int c0f, int h0b, int c0b, int y_backward, int hf, int cf,
             int hb, int cb) {
            if ((mode == MergeMode::None) != (y_backward >= 0))
              throw std::invalid_argument("bidirectional: y_backward is the second output of merge_mode none only");
            add_op<BidirectionalOp>(g, l, {x, mask, h0f, c0f, h0b, c0b}, {y, y_backward, hf, cf, hb, cb},
                                    std::shared_ptr<const RecurrentLayer>(std::move(f)),
                                    std::shared_ptr<const RecurrentLayer>(std::move(b)), mode);
          },
          "layer"_a, "forward"_a, "backward"_a, "merge_mode"_a, py::kw_only(), "x"_a, "y"_a, "mask"_a = -1,
          "h0f"_a = -1, "c0f"_a = -1, "h0b"_a = -1, "c0b"_a = -1, "y_backward"_a = -1, "hf"_a = -1, "cf"_a = -1,
          "hb"_a = -1, "cb"_a = -1)
      .def(
          "reshape",
          [](Graph& g, std::string l, Slots in, Slots out, std::vector<int64_t> target) {
            check_reshape_target(target);
            add_op<ReshapeOp>(g, l, in, out, std::move(target));
          },
          "layer"_a, "ins"_a, "outs"_a, "target"_a)
      .def(
          "permute",
          [](Graph& g, std::string l, Slots in, Slots out, std::vector<int> perm) {
            std::vector<bool> seen(perm.size(), false);
            for (int p : perm) {
              if (p < 0 || p >= (int)perm.size() || seen[(size_t)p]) throw std::invalid_argument("not a permutation");
              seen[(size_t)p] = true;
            }
            add_op<PermuteOp>(g, l, in, out, std::move(perm));
          },
          "layer"_a, "ins"_a, "outs"_a, "perm"_a)
      .def(
          "repeat",
          [](Graph& g, std::string l, Slots in, Slots out, int64_t n) {
            if (n < 1) throw std::invalid_argument("repeat count must be >= 1");
            add_op<RepeatOp>(g, l, in, out, n);
          },
          "layer"_a, "ins"_a, "outs"_a, "n"_a)
      .def(
          "merge",
          [](Graph& g, std::string l, Slots in, Slots out, MergeKind k, int axis) {
            if (in.empty()) throw std::invalid_argument("merge needs inputs");
            add_op<MergeOp>(g, l, in, out, k, axis);
          },
          "layer"_a, "ins"_a, "outs"_a, "kind"_a, "axis"_a)
      .def(
          "masked_merge",
          [](Graph& g, std::string l, Slots inputs, Slots masks, int y, MergeKind k) {
            if (k != MergeKind::Multiply && k != MergeKind::Maximum && k != MergeKind::Minimum)
              throw std::invalid_argument("masked merge: Multiply, Maximum or Minimum");
            if (inputs.size() < 2 || inputs.size() != masks.size() || inputs[0] < 0)
              throw std::invalid_argument("masked merge takes inputs and one mask slot (or -1) per input");
            inputs.insert(inputs.end(), masks.begin(), masks.end());  // MaskedMergeOp: inputs then masks
            add_op<MaskedMergeOp>(g, l, std::move(inputs), {y}, k);
          },
          "layer"_a, py::kw_only(), "inputs"_a, "masks"_a, "y"_a, "kind"_a)
      .def(
          "mask_combine",
          [](Graph& g, std::string l, Slots in, Slots out, bool any) {
            if (in.empty()) throw std::invalid_argument("mask_combine needs inputs");
            add_op<MaskCombineOp>(g, l, in, out, any);
          },
          "layer"_a, "ins"_a, "outs"_a, "any"_a)
      .def(
          "conv1d",
          [](Graph& g, std::string l, Slots in, Slots out, const farray& kernel, const std::optional<farray>& bias,
             int64_t stride, int64_t dilation, ConvPad pad, Act act) {
            if (kernel.ndim() != 3) throw std::invalid_argument("conv1d kernel must be (k, in, out)");
            if (stride < 1 || dilation < 1) throw std::invalid_argument("bad conv1d geometry");
            const int64_t k = kernel.shape(0), ci = kernel.shape(1), co = kernel.shape(2);
            if (bias) need_size(*bias, co, "conv1d bias");
            add_op<Conv1DOp>(g, l, in, out, k, ci, co, kernel.data(), opt_ptr(bias), stride, dilation, pad, act);
          },
          "layer"_a, "ins"_a, "outs"_a, "kernel"_a, "bias"_a, "stride"_a, "dilation"_a, "pad"_a, "act"_a)
      .def(
          "pool1d",
          [](Graph& g, std::string l, Slots in, Slots out, PoolKind k, int64_t pool, int64_t stride, ConvPad pad) {
            if (pool < 1 || stride < 1) throw std::invalid_argument("bad pool geometry");
            if (pad == ConvPad::Causal) throw std::invalid_argument("pooling pads valid or same");
            add_op<Pool1DOp>(g, l, in, out, k, pool, stride, pad == ConvPad::Same);
          },
          "layer"_a, "ins"_a, "outs"_a, "kind"_a, "pool"_a, "stride"_a, "pad"_a)
      .def(
          "global_pool1d",
          [](Graph& g, std::string l, int x, int y, int mask, PoolKind k, bool keepdims) {
            add_op<GlobalPool1DOp>(g, l, {x, mask}, {y}, k, keepdims);
          },
          "layer"_a, py::kw_only(), "x"_a, "y"_a, "mask"_a = -1, "kind"_a, "keepdims"_a)
      .def("fold_time", &add_op<FoldTimeOp>, "layer"_a, "ins"_a, "outs"_a)
      .def(
          "unfold_time",
          [](Graph& g, std::string l, int x, int reference, int y) { add_op<UnfoldTimeOp>(g, l, {x, reference}, {y}); },
          "layer"_a, py::kw_only(), "x"_a, "reference"_a, "y"_a,
          "TimeDistributed's unfold: x (B*T, ...) back to (B, T, ...) using the shape of `reference`.")
      .def("finalize", &Graph::finalize, py::arg("num_slots"), py::arg("inputs"), py::arg("outputs"),
           py::arg("release_after"))
      .def(
          "run",
          [](const Graph& g, const std::vector<py::object>& inputs, const std::optional<py::list>& dst) -> py::object {
            const std::vector<farray> xs = as_farrays(inputs);
            const std::vector<float*> ptrs = dst ? out_arrays(*dst) : std::vector<float*>();
            std::vector<Tensor> in = borrow(xs, {});
            std::vector<Tensor> out;
            {
              // The inputs stay alive in `xs`; the plan is immutable; everything else
              // is per call.
              py::gil_scoped_release nogil;
              out = g.run(std::move(in));
            }
            if (!dst) return to_list(out);
            check_out_shapes(out, *dst);
            copy_out(out, ptrs);  // the out arrays stay alive in `dst`
            return *dst;
          },
          py::arg("inputs"), py::arg("out") = py::none(),
          "Run the plan on float32 inputs; returns the list of outputs (the `out` arrays, written, when given: "
          "one C-contiguous float32 array per output, of its shape).")
      .def(
          "profile",
          [](const Graph& g, const std::vector<py::object>& inputs, int64_t repeats, int64_t warmup) {
            if (repeats < 1) throw std::invalid_argument("repeats must be >= 1, got " + std::to_string(repeats));
            if (warmup < 0) throw std::invalid_argument("warmup must be >= 0, got " + std::to_string(warmup));
            const std::vector<farray> xs = as_farrays(inputs);
            std::vector<Tensor> in = borrow(xs, {});
            const auto n = static_cast<py::ssize_t>(g.num_ops());
            py::array_t<double> per_op({static_cast<py::ssize_t>(repeats), n});
            py::array_t<double> wall(static_cast<py::ssize_t>(repeats));
            double* po = per_op.mutable_data();
            double* pw = wall.mutable_data();
            std::fill(po, po + repeats * n, 0.0);
            {
              // The inputs stay alive in `xs`; the two result arrays are this call's own
              // and no other Python code sees them before it returns.
              py::gil_scoped_release nogil;
              for (int64_t r = 0; r < warmup; ++r) g.run(in);
              for (int64_t r = 0; r < repeats; ++r) {
                const auto t0 = std::chrono::steady_clock::now();
                g.run(in, po + r * n);
                pw[r] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
              }
            }
            return py::make_tuple(per_op, wall);
          },
          py::arg("inputs"), py::arg("repeats"), py::arg("warmup"),
          "Run the plan warmup + repeats times, timing each op of the timed runs; returns (seconds per run and "
          "op: float64 (repeats, num_ops), wall seconds per run: float64 (repeats,)). Other calls are unaffected.");
}

}  // namespace pyrnn
