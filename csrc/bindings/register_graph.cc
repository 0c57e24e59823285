// The model plan (pyrnn/_plan.py builds it; Graph.run executes a whole predict call
// with the GIL released). The builder methods are private API: Python has already
// validated shapes and options and produces the messages users see.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pyrnn/graph.h"

namespace py = pybind11;

namespace pyrnn {
namespace {

using farray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using Slots = std::vector<int>;

const float* opt_ptr(const std::optional<farray>& a) { return a ? a->data() : nullptr; }

void need_size(const farray& a, int64_t n, const char* what) {
  if (a.size() != n) throw std::invalid_argument(std::string(what) + " has the wrong size");
}

std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

// A float32 numpy array that owns (a reference to) the tensor's buffer.
py::array to_numpy(const Tensor& t) {
  std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
  if (!t.buf) {  // borrowed from an input: copy
    py::array_t<float> out(shape);
    if (t.size()) std::memcpy(out.mutable_data(), t.ptr, sizeof(float) * (size_t)t.size());
    return std::move(out);
  }
  auto* holder = new std::shared_ptr<AlignedBuffer>(t.buf);
  py::capsule owner(holder, [](void* p) { delete static_cast<std::shared_ptr<AlignedBuffer>*>(p); });
  return py::array_t<float>(shape, t.ptr, owner);
}

// Views of the input arrays (kept alive by the caller). add_time[i]: input i is one
// timestep (batch, ...) of a (batch, time, ...) input, given a time axis of 1.
std::vector<Tensor> borrow(const std::vector<farray>& xs, const std::vector<bool>& add_time) {
  std::vector<Tensor> in;
  in.reserve(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    std::vector<int64_t> shape = shape_of(xs[i]);
    if (i < add_time.size() && add_time[i]) {
      if (shape.empty()) throw std::invalid_argument("a timestep needs a batch axis");
      shape.insert(shape.begin() + 1, 1);
    }
    in.push_back(Tensor::borrow(std::move(shape), xs[i].data()));
  }
  return in;
}

// Outputs as numpy arrays; two outputs on one buffer get separate copies.
py::list to_list(const std::vector<Tensor>& out) {
  py::list result;
  std::vector<const AlignedBuffer*> seen;
  for (const Tensor& t : out) {
    const bool shared = t.buf && std::find(seen.begin(), seen.end(), t.buf.get()) != seen.end();
    if (t.buf) seen.push_back(t.buf.get());
    if (shared) {
      Tensor c = Tensor::alloc(t.shape);
      if (t.size()) std::memcpy(c.mut(), t.ptr, sizeof(float) * (size_t)t.size());
      result.append(to_numpy(c));
    } else {
      result.append(to_numpy(t));
    }
  }
  return result;
}

}  // namespace

void register_graph(py::module_& m) {
  m.def("set_memory_limit", &set_tensor_memory_limit, py::arg("bytes"),
        "Largest intermediate tensor a model call may allocate, in bytes (<= 0: physical memory).");
  m.def("memory_limit", &tensor_memory_limit);
  m.def("release_memory", &AlignedBuffer::release_cached,
        "Frees the large blocks kept for reuse by later calls; returns the bytes freed.");
  py::class_<Graph, std::shared_ptr<Graph>>(m, "Graph", "A whole model as a plan of ops over tensor slots (built by pyrnn._plan).")
      .def(py::init<>())
      .def_property_readonly("num_inputs", &Graph::num_inputs)
      .def_property_readonly("num_ops", &Graph::num_ops)
      .def("dense",
           [](Graph& g, std::string l, Slots in, Slots out, const farray& W, const std::optional<farray>& b, int act) {
             if (W.ndim() != 2) throw std::invalid_argument("dense kernel must be 2-D");
             const int64_t K = W.shape(0), N = W.shape(1);
             if (b) need_size(*b, N, "dense bias");
             g.add(make_dense(std::move(l), std::move(in), std::move(out), K, N, W.data(), opt_ptr(b), static_cast<Act>(act)));
           })
      .def("activation",
           [](Graph& g, std::string l, Slots in, Slots out, int act) {
             g.add(make_activation(std::move(l), std::move(in), std::move(out), static_cast<Act>(act)));
           })
      .def("param_activation",
           [](Graph& g, std::string l, Slots in, Slots out, int kind, float a, float b, float c,
              const std::optional<farray>& param) {
             if (kind < 0 || kind > 3) throw std::invalid_argument("unknown activation kind");
             std::vector<int64_t> pshape;
             if (param) pshape = shape_of(*param);
             if (kind == 3 && !param) throw std::invalid_argument("PReLU needs alpha");
             g.add(make_param_activation(std::move(l), std::move(in), std::move(out), static_cast<ParamActKind>(kind),
                                         a, b, c, pshape, opt_ptr(param)));
           })
      .def("affine",
           [](Graph& g, std::string l, Slots in, Slots out, const farray& scale, const farray& shift) {
             if (scale.ndim() != shift.ndim() || scale.size() != shift.size())
               throw std::invalid_argument("scale and shift shapes differ");
             g.add(make_affine(std::move(l), std::move(in), std::move(out), shape_of(scale), scale.data(), shift.data()));
           })
      .def("layer_norm",
           [](Graph& g, std::string l, Slots in, Slots out, int64_t n, const std::optional<farray>& gamma,
              const std::optional<farray>& beta, float eps, bool rms) {
             if (n < 1) throw std::invalid_argument("layer_norm size must be >= 1");
             if (gamma) need_size(*gamma, n, "gamma");
             if (beta) need_size(*beta, n, "beta");
             g.add(make_layer_norm(std::move(l), std::move(in), std::move(out), n, opt_ptr(gamma), opt_ptr(beta), eps, rms));
           })
      .def("embedding",
           [](Graph& g, std::string l, Slots in, Slots out, const farray& table, bool mask_zero) {
             if (table.ndim() != 2) throw std::invalid_argument("embedding table must be 2-D");
             g.add(make_embedding(std::move(l), std::move(in), std::move(out), table.shape(0), table.shape(1),
                                  table.data(), mask_zero));
           })
      .def("masking",
           [](Graph& g, std::string l, Slots in, Slots out, float value) {
             g.add(make_masking(std::move(l), std::move(in), std::move(out), value));
           })
      .def("rnn",
           [](Graph& g, std::string l, Slots in, Slots out, std::shared_ptr<RecurrentLayer> cell) {
             if (in.size() != 5 || out.size() != 4) throw std::invalid_argument("rnn takes 5 input and 4 output slots");
             g.add(make_rnn(std::move(l), std::move(in), std::move(out), std::move(cell)));
           })
      .def("bidirectional",
           [](Graph& g, std::string l, Slots in, Slots out, std::shared_ptr<RecurrentLayer> f,
              std::shared_ptr<RecurrentLayer> b, int mode) {
             if (in.size() != 6 || out.size() != 6) throw std::invalid_argument("bidirectional takes 6 and 6 slots");
             if (mode < 0 || mode > 4) throw std::invalid_argument("unknown merge mode");
             g.add(make_bidirectional(std::move(l), std::move(in), std::move(out), std::move(f), std::move(b),
                                      static_cast<MergeMode>(mode)));
           })
      .def("reshape",
           [](Graph& g, std::string l, Slots in, Slots out, std::vector<int64_t> target) {
             int free = 0;
             for (int64_t d : target) {
               if (d < -1) throw std::invalid_argument("reshape target dims must be >= -1");
               free += d == -1;
             }
             if (free > 1) throw std::invalid_argument("reshape target has more than one -1");
             g.add(make_reshape(std::move(l), std::move(in), std::move(out), std::move(target)));
           })
      .def("permute",
           [](Graph& g, std::string l, Slots in, Slots out, std::vector<int> perm) {
             std::vector<bool> seen(perm.size(), false);
             for (int p : perm) {
               if (p < 0 || p >= (int)perm.size() || seen[(size_t)p]) throw std::invalid_argument("not a permutation");
               seen[(size_t)p] = true;
             }
             g.add(make_permute(std::move(l), std::move(in), std::move(out), std::move(perm)));
           })
      .def("repeat",
           [](Graph& g, std::string l, Slots in, Slots out, int64_t n) {
             if (n < 1) throw std::invalid_argument("repeat count must be >= 1");
             g.add(make_repeat(std::move(l), std::move(in), std::move(out), n));
           })
      .def("merge",
           [](Graph& g, std::string l, Slots in, Slots out, int kind, int axis) {
             if (kind < 0 || kind > 6) throw std::invalid_argument("unknown merge kind");
             if (in.empty()) throw std::invalid_argument("merge needs inputs");
             g.add(make_merge(std::move(l), std::move(in), std::move(out), static_cast<MergeKind>(kind), axis));
           })
      .def("masked_merge",
           [](Graph& g, std::string l, Slots in, Slots out, int kind) {
             if (kind != 2 && kind != 4 && kind != 5) throw std::invalid_argument("masked merge: Multiply, Maximum or Minimum");
             if (in.size() < 2 || in.size() % 2 || in[0] < 0) throw std::invalid_argument("masked merge takes inputs then masks");
             g.add(make_masked_merge(std::move(l), std::move(in), std::move(out), static_cast<MergeKind>(kind)));
           })
      .def("mask_combine",
           [](Graph& g, std::string l, Slots in, Slots out, bool any) {
             if (in.empty()) throw std::invalid_argument("mask_combine needs inputs");
             g.add(make_mask_combine(std::move(l), std::move(in), std::move(out), any));
           })
      .def("conv1d",
           [](Graph& g, std::string l, Slots in, Slots out, const farray& kernel, const std::optional<farray>& bias,
              int64_t stride, int64_t dilation, int pad, int act) {
             if (kernel.ndim() != 3) throw std::invalid_argument("conv1d kernel must be (k, in, out)");
             if (stride < 1 || dilation < 1 || pad < 0 || pad > 2) throw std::invalid_argument("bad conv1d geometry");
             const int64_t k = kernel.shape(0), ci = kernel.shape(1), co = kernel.shape(2);
             if (bias) need_size(*bias, co, "conv1d bias");
             g.add(make_conv1d(std::move(l), std::move(in), std::move(out), k, ci, co, kernel.data(), opt_ptr(bias),
                               stride, dilation, static_cast<ConvPad>(pad), static_cast<Act>(act)));
           })
      .def("pool1d",
           [](Graph& g, std::string l, Slots in, Slots out, int kind, int64_t pool, int64_t stride, bool same) {
             if (pool < 1 || stride < 1) throw std::invalid_argument("bad pool geometry");
             g.add(make_pool1d(std::move(l), std::move(in), std::move(out), static_cast<PoolKind>(kind & 1), pool,
                               stride, same));
           })
      .def("global_pool1d",
           [](Graph& g, std::string l, Slots in, Slots out, int kind, bool keepdims) {
             g.add(make_global_pool1d(std::move(l), std::move(in), std::move(out), static_cast<PoolKind>(kind & 1),
                                      keepdims));
           })
      .def("fold_time",
           [](Graph& g, std::string l, Slots in, Slots out) {
             g.add(make_fold_time(std::move(l), std::move(in), std::move(out)));
           })
      .def("unfold_time",
           [](Graph& g, std::string l, Slots in, Slots out) {
             if (in.size() != 2) throw std::invalid_argument("unfold_time takes [x, reference]");
             g.add(make_unfold_time(std::move(l), std::move(in), std::move(out)));
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

  py::class_<Stream>(m, "Stream", "A plan with recurrent states kept between calls (pyrnn.Stream wraps it).")
      .def(py::init([](std::shared_ptr<Graph> g, size_t n_in, size_t n_out, std::vector<int64_t> widths, int64_t batch) {
             return std::make_unique<Stream>(std::move(g), n_in, n_out, std::move(widths), batch);
           }),
           py::arg("graph"), py::arg("num_inputs"), py::arg("num_outputs"), py::arg("widths"), py::arg("batch"))
      .def_property_readonly("batch", &Stream::batch)
      .def_property_readonly("num_states", &Stream::num_states)
      .def(
          "step",
          [](Stream& s, const std::vector<farray>& xs, const std::vector<bool>& add_time,
             const std::vector<bool>& drop_time) {
            // add_time[i]: input i is one timestep (batch, ...) of a (batch, time, ...)
            // input; drop_time[k]: output k is a sequence whose single step is returned
            // without its time axis. Both are views: no data moves.
            std::vector<Tensor> in = borrow(xs, add_time);
            std::vector<Tensor> out;
            {
              py::gil_scoped_release nogil;
              out = s.step(in);
            }
            for (size_t k = 0; k < out.size() && k < drop_time.size(); ++k)
              if (drop_time[k] && out[k].rank() >= 2 && out[k].dim(1) == 1) out[k].shape.erase(out[k].shape.begin() + 1);
            return to_list(out);
          },
          py::arg("inputs"), py::arg("add_time") = std::vector<bool>(), py::arg("drop_time") = std::vector<bool>())
      .def("states",
           [](const Stream& s) {
             py::list result;
             for (const Tensor& t : s.states()) result.append(to_numpy(t));
             return result;
           })
      .def("set_state",
           [](Stream& s, size_t i, const farray& a) { s.set_state(i, a.data(), a.size()); })
      .def("reset", &Stream::reset, py::arg("rows"));
}

}  // namespace pyrnn
