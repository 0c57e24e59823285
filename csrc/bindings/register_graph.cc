// Graph: the model plan that pyrnn/_convert.py builds op by op; Graph.run executes a
// whole predict call with the GIL released. The builder methods are private API: Python
// has already validated shapes and options and produces the messages users see, so the
// checks here only keep a misuse of _core from reaching an op with inconsistent sizes.
//
// One .def per op. An op whose Python arguments are its constructor's binds as
// &add_op<Op, Args...>; the others convert arrays and check codes in a lambda first.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "arrays.h"
#include "checked_code.h"
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

}  // namespace

void register_graph(py::module_& m) {
  py::class_<Graph, std::shared_ptr<Graph>>(m, "Graph", "A whole model as a plan of ops over tensor slots.")
      .def(py::init<>())
      .def_property_readonly("num_inputs", &Graph::num_inputs)
      .def_property_readonly("num_ops", &Graph::num_ops)
      .def("dense",
           [](Graph& g, std::string l, Slots in, Slots out, const farray& W, const std::optional<farray>& b, int act) {
             if (W.ndim() != 2) throw std::invalid_argument("dense kernel must be 2-D");
             const int64_t K = W.shape(0), N = W.shape(1);
             if (b) need_size(*b, N, "dense bias");
             add_op<DenseOp>(g, l, in, out, K, N, W.data(), opt_ptr(b), checked_code<Act>(act, "act"));
           })
      .def("activation", [](Graph& g, std::string l, Slots in, Slots out,
                            int act) { add_op<ActivationOp>(g, l, in, out, checked_code<Act>(act, "act")); })
      .def("param_activation",
           [](Graph& g, std::string l, Slots in, Slots out, int kind, float a, float b, float c,
              const std::optional<farray>& param) {
             const ParamActKind k = checked_code<ParamActKind>(kind, "kind");
             if (k == ParamActKind::PRelu && !param) throw std::invalid_argument("PReLU needs alpha");
             add_op<ParamActivationOp>(g, l, in, out, k, a, b, c, param ? shape_of(*param) : std::vector<int64_t>(),
                                       opt_ptr(param));
           })
      .def("affine",
           [](Graph& g, std::string l, Slots in, Slots out, const farray& scale, const farray& shift) {
             if (scale.ndim() != shift.ndim() || scale.size() != shift.size())
               throw std::invalid_argument("scale and shift shapes differ");
             add_op<AffineOp>(g, l, in, out, shape_of(scale), scale.data(), shift.data());
           })
      .def("layer_norm",
           [](Graph& g, std::string l, Slots in, Slots out, int64_t n, const std::optional<farray>& gamma,
              const std::optional<farray>& beta, float eps, bool rms) {
             if (n < 1) throw std::invalid_argument("layer_norm size must be >= 1");
             if (gamma) need_size(*gamma, n, "gamma");
             if (beta) need_size(*beta, n, "beta");
             add_op<LayerNormOp>(g, l, in, out, n, opt_ptr(gamma), opt_ptr(beta), eps, rms);
           })
      .def("embedding",
           [](Graph& g, std::string l, Slots in, Slots out, const farray& table, bool mask_zero) {
             if (table.ndim() != 2) throw std::invalid_argument("embedding table must be 2-D");
             add_op<EmbeddingOp>(g, l, in, out, table.shape(0), table.shape(1), table.data(), mask_zero);
           })
      .def("masking", &add_op<MaskingOp, float>)
      .def("rnn",
           [](Graph& g, std::string l, Slots in, Slots out, std::shared_ptr<RecurrentLayer> rnn) {
             if (in.size() != 5 || out.size() != 4) throw std::invalid_argument("rnn takes 5 input and 4 output slots");
             add_op<RnnOp>(g, l, in, out, std::shared_ptr<const RecurrentLayer>(std::move(rnn)));
           })
      .def("bidirectional",
           [](Graph& g, std::string l, Slots in, Slots out, std::shared_ptr<RecurrentLayer> f,
              std::shared_ptr<RecurrentLayer> b, int mode) {
             if (in.size() != 6 || out.size() != 6) throw std::invalid_argument("bidirectional takes 6 and 6 slots");
             add_op<BidirectionalOp>(g, l, in, out, std::shared_ptr<const RecurrentLayer>(std::move(f)),
                                     std::shared_ptr<const RecurrentLayer>(std::move(b)),
                                     checked_code<MergeMode>(mode, "merge_mode"));
           })
      .def("reshape",
           [](Graph& g, std::string l, Slots in, Slots out, std::vector<int64_t> target) {
             int free = 0;
             for (int64_t d : target) {
               if (d < -1) throw std::invalid_argument("reshape target dims must be >= -1");
               free += d == -1;
             }
             if (free > 1) throw std::invalid_argument("reshape target has more than one -1");
             add_op<ReshapeOp>(g, l, in, out, std::move(target));
           })
      .def("permute",
           [](Graph& g, std::string l, Slots in, Slots out, std::vector<int> perm) {
             std::vector<bool> seen(perm.size(), false);
             for (int p : perm) {
               if (p < 0 || p >= (int)perm.size() || seen[(size_t)p]) throw std::invalid_argument("not a permutation");
               seen[(size_t)p] = true;
             }
             add_op<PermuteOp>(g, l, in, out, std::move(perm));
           })
      .def("repeat",
           [](Graph& g, std::string l, Slots in, Slots out, int64_t n) {
             if (n < 1) throw std::invalid_argument("repeat count must be >= 1");
             add_op<RepeatOp>(g, l, in, out, n);
           })
      .def("merge",
           [](Graph& g, std::string l, Slots in, Slots out, int kind, int axis) {
             const MergeKind k = checked_code<MergeKind>(kind, "kind");
             if (in.empty()) throw std::invalid_argument("merge needs inputs");
             add_op<MergeOp>(g, l, in, out, k, axis);
           })
      .def("masked_merge",
           [](Graph& g, std::string l, Slots in, Slots out, int kind) {
             const MergeKind k = checked_code<MergeKind>(kind, "kind");
             if (k != MergeKind::Multiply && k != MergeKind::Maximum && k != MergeKind::Minimum)
               throw std::invalid_argument("masked merge: Multiply, Maximum or Minimum");
             if (in.size() < 2 || in.size() % 2 || in[0] < 0)
               throw std::invalid_argument("masked merge takes inputs then masks");
             add_op<MaskedMergeOp>(g, l, in, out, k);
           })
      .def("mask_combine",
           [](Graph& g, std::string l, Slots in, Slots out, bool any) {
             if (in.empty()) throw std::invalid_argument("mask_combine needs inputs");
             add_op<MaskCombineOp>(g, l, in, out, any);
           })
      .def("conv1d",
           [](Graph& g, std::string l, Slots in, Slots out, const farray& kernel, const std::optional<farray>& bias,
              int64_t stride, int64_t dilation, int pad, int act) {
             if (kernel.ndim() != 3) throw std::invalid_argument("conv1d kernel must be (k, in, out)");
             if (stride < 1 || dilation < 1) throw std::invalid_argument("bad conv1d geometry");
             const ConvPad p = checked_code<ConvPad>(pad, "padding");
             const int64_t k = kernel.shape(0), ci = kernel.shape(1), co = kernel.shape(2);
             if (bias) need_size(*bias, co, "conv1d bias");
             add_op<Conv1DOp>(g, l, in, out, k, ci, co, kernel.data(), opt_ptr(bias), stride, dilation, p,
                              checked_code<Act>(act, "act"));
           })
      .def("pool1d",
           [](Graph& g, std::string l, Slots in, Slots out, int kind, int64_t pool, int64_t stride, bool same) {
             const PoolKind k = checked_code<PoolKind>(kind, "kind");
             if (pool < 1 || stride < 1) throw std::invalid_argument("bad pool geometry");
             add_op<Pool1DOp>(g, l, in, out, k, pool, stride, same);
           })
      .def("global_pool1d",
           [](Graph& g, std::string l, Slots in, Slots out, int kind, bool keepdims) {
             add_op<GlobalPool1DOp>(g, l, in, out, checked_code<PoolKind>(kind, "kind"), keepdims);
           })
      .def("fold_time", &add_op<FoldTimeOp>)
      .def("unfold_time",
           [](Graph& g, std::string l, Slots in, Slots out) {
             if (in.size() != 2) throw std::invalid_argument("unfold_time takes [x, reference]");
             add_op<UnfoldTimeOp>(g, l, in, out);
           })
      .def("finalize", &Graph::finalize, py::arg("num_slots"), py::arg("inputs"), py::arg("outputs"),
           py::arg("release_after"))
      .def(
          "run",
          [](const Graph& g, const std::vector<farray>& xs) {
            std::vector<Tensor> in = borrow(xs, {});
            std::vector<Tensor> out;
            {
              // The inputs stay alive in `xs`; the plan is immutable; everything else
              // is per call.
              py::gil_scoped_release nogil;
              out = g.run(in);
            }
            return to_list(out);
          },
          py::arg("inputs"), "Run the plan on float32 inputs; returns the list of outputs.");
}

}  // namespace pyrnn
