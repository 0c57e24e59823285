// RecurrentLayer and Bidirectional. Python (pyrnn/layers.py) validates user input and
// builds the messages users see; the checks here only keep a misuse of the private
// API from ever reaching the kernels with inconsistent sizes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <stdexcept>
#include <string>

#include "pyrnn/codes.h"
#include "pyrnn/cuda.h"
#include "pyrnn/layer.h"

namespace py = pybind11;

namespace pyrnn {
namespace {

using farray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using u8array = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;

void expect_shape(const py::array& a, std::initializer_list<int64_t> shape, const char* what) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  int i = 0;
  for (int64_t s : shape) ok = ok && a.shape(i++) == s;
  if (!ok) throw std::invalid_argument(std::string(what) + " has the wrong shape");
}

struct Inputs {
  int64_t B, T;
  const float* x;
  const uint8_t* mask;
};

template <class Layer>
Inputs check_inputs(const Layer& l, const farray& x, const std::optional<u8array>& mask) {
  if (x.ndim() != 3 || x.shape(2) != l.input_size())
    throw std::invalid_argument("x must be (batch, time, " + std::to_string(l.input_size()) + ")");
  Inputs in{x.shape(0), x.shape(1), x.data(), nullptr};
  if (in.T < 1) throw std::invalid_argument("x must have at least one timestep");
  if (mask) {
    expect_shape(*mask, {in.B, in.T}, "mask");
    in.mask = mask->data();
  }
  return in;
}

const float* state_ptr(const std::optional<farray>& s, int64_t B, int64_t H, const char* what) {
  if (!s) return nullptr;
  expect_shape(*s, {B, H}, what);
  return s->data();
}

py::array_t<float> empty(std::initializer_list<py::ssize_t> shape) {
  return py::array_t<float>(std::vector<py::ssize_t>(shape));
}

// The constructor arguments shared by the CPU and CUDA layers, checked.
struct Spec {
  LayerOptions o;
  int64_t D, H, bias_rows = 0;
  const float* bias = nullptr;
};

Spec make_spec(CellKind k, Act a, Act ra, bool reset_after, bool go_backwards, bool return_sequences,
               bool zero_output_for_mask, const farray& kernel, const farray& recurrent,
               const std::optional<farray>& bias) {
  const int G = gate_count(k);
  if (kernel.ndim() != 2 || recurrent.ndim() != 2) throw std::invalid_argument("kernels must be 2-D");
  Spec sp;
  sp.D = kernel.shape(0);
  sp.H = recurrent.shape(0);
  if (kernel.shape(1) != G * sp.H || recurrent.shape(1) != G * sp.H)
    throw std::invalid_argument("kernel/recurrent_kernel shapes disagree");
  sp.o.kind = k;
  sp.o.act = a;
  sp.o.rec_act = ra;
  sp.o.reset_after = reset_after;
  sp.o.go_backwards = go_backwards;
  sp.o.return_sequences = return_sequences;
  sp.o.zero_output_for_mask = zero_output_for_mask;
  if (bias) {
    sp.bias_rows = bias->ndim() == 2 ? bias->shape(0) : 1;
    if (bias->size() != sp.bias_rows * G * sp.H) throw std::invalid_argument("bias size disagrees with units");
    sp.bias = bias->data();
  }
  return sp;
}

std::shared_ptr<RecurrentLayer> make_layer(CellKind kind, Act act, Act rec_act, bool reset_after, bool go_backwards,
                                           bool return_sequences, bool zero_output_for_mask, const farray& kernel,
                                           const farray& recurrent, const std::optional<farray>& bias,
                                           ComputeType compute_type) {
  Spec sp = make_spec(kind, act, rec_act, reset_after, go_backwards, return_sequences, zero_output_for_mask, kernel,
                      recurrent, bias);
  sp.o.compute_type = compute_type;
  py::gil_scoped_release nogil;  // packing a large layer takes a while
  return std::make_shared<RecurrentLayer>(sp.o, sp.D, sp.H, kernel.data(), recurrent.data(), sp.bias, sp.bias_rows);
}

// The run binding of both layer classes: (output, h, c) with c empty for non-LSTM cells.
template <class Layer, class Run>
py::tuple run_layer(Layer& l, const farray& x, const std::optional<u8array>& mask, const std::optional<farray>& h0,
                    const std::optional<farray>& c0, Run&& run) {
  const Inputs in = check_inputs(l, x, mask);
  const int64_t H = l.units();
  const bool lstm = l.options().kind == CellKind::LSTM;
  auto y = l.options().return_sequences ? empty({in.B, in.T, H}) : empty({in.B, H});
  auto h = empty({in.B, H});
  auto c = empty({in.B, lstm ? H : 0});
  const float* h0p = state_ptr(h0, in.B, H, "h0");
  const float* c0p = lstm ? state_ptr(c0, in.B, H, "c0") : nullptr;
  LayerOutputs out{y.mutable_data(), h.mutable_data(), lstm ? c.mutable_data() : nullptr};
  {
    // Inputs are held by the argument casters, outputs are fresh arrays no other
    // thread can see, and the layer is immutable (or locks itself): safe without the GIL.
    py::gil_scoped_release nogil;
    run(in, h0p, c0p, out);
  }
  return py::make_tuple(y, h, c);
}

}  // namespace

void register_layers(py::module_& m) {
  py::class_<RecurrentLayer, std::shared_ptr<RecurrentLayer>>(m, "RecurrentLayer")
      .def(py::init(&make_layer), py::arg("kind"), py::arg("act"), py::arg("rec_act"), py::arg("reset_after"),
           py::arg("go_backwards"), py::arg("return_sequences"), py::arg("zero_output_for_mask"), py::arg("kernel"),
           py::arg("recurrent_kernel"), py::arg("bias") = py::none(), py::arg("compute_type") = ComputeType::Float32)
      .def_property_readonly("compute_type", [](const RecurrentLayer& l) { return l.options().compute_type; })
      .def_property_readonly("input_size", &RecurrentLayer::input_size)
      .def_property_readonly("units", &RecurrentLayer::units)
      .def(
          "run",
          [](const RecurrentLayer& l, const farray& x, const std::optional<u8array>& mask,
             const std::optional<farray>& h0, const std::optional<farray>& c0) {
            return run_layer(l, x, mask, h0, c0,
                             [&](const Inputs& in, const float* h0p, const float* c0p, const LayerOutputs& out) {
                               l.run(in.B, in.T, in.x, in.mask, h0p, c0p, out, l.options().zero_output_for_mask);
                             });
          },
          py::arg("x"), py::arg("mask") = py::none(), py::arg("h0") = py::none(), py::arg("c0") = py::none(),
          "Run the sequence; returns (output, h, c) with c empty for non-LSTM cells.");

#ifdef PYRNN_WITH_CUDA
  m.attr("cuda_compiled") = true;
  m.def("cuda_device_count", &cuda_device_count, "CUDA devices the runtime sees (0 without a driver or GPU).");
  m.def("cuda_runtime_info", &cuda_runtime_info);
  py::class_<CudaRecurrentLayer, std::shared_ptr<CudaRecurrentLayer>>(m, "CudaRecurrentLayer")
      .def(py::init([](CellKind kind, Act act, Act rec_act, bool reset_after, bool go_backwards, bool return_sequences,
                       bool zero_output_for_mask, const farray& kernel, const farray& recurrent,
                       const std::optional<farray>& bias, int device) {
             const Spec sp = make_spec(kind, act, rec_act, reset_after, go_backwards, return_sequences,
                                       zero_output_for_mask, kernel, recurrent, bias);
             return std::make_shared<CudaRecurrentLayer>(sp.o, sp.D, sp.H, kernel.data(), recurrent.data(), sp.bias,
                                                         sp.bias_rows, device);
           }),
           py::arg("kind"), py::arg("act"), py::arg("rec_act"), py::arg("reset_after"), py::arg("go_backwards"),
           py::arg("return_sequences"), py::arg("zero_output_for_mask"), py::arg("kernel"), py::arg("recurrent_kernel"),
           py::arg("bias") = py::none(), py::arg("device") = 0)
      .def_property_readonly("device", &CudaRecurrentLayer::device)
      .def(
          "run",
          [](CudaRecurrentLayer& l, const farray& x, const std::optional<u8array>& mask,
             const std::optional<farray>& h0, const std::optional<farray>& c0) {
            return run_layer(l, x, mask, h0, c0,
                             [&](const Inputs& in, const float* h0p, const float* c0p, const LayerOutputs& out) {
                               l.run_host(in.B, in.T, in.x, in.mask, h0p, c0p, out);
                             });
          },
          py::arg("x"), py::arg("mask") = py::none(), py::arg("h0") = py::none(), py::arg("c0") = py::none(),
          "Run the sequence on the GPU (host arrays in and out); returns (output, h, c).");
#else
  m.attr("cuda_compiled") = false;
#endif

  m.def(
      "run_bidirectional",
      [](const RecurrentLayer& f, const RecurrentLayer& b, MergeMode mm, const farray& x,
         const std::optional<u8array>& mask, const std::optional<farray>& h0f, const std::optional<farray>& c0f,
         const std::optional<farray>& h0b, const std::optional<farray>& c0b) {
        if (f.units() != b.units() || f.num_states() != b.num_states())  // sizes the outputs below
          throw std::invalid_argument("forward and backward layers disagree in units or number of states");
        const Inputs in = check_inputs(f, x, mask);
        const int64_t H = f.units();
        const bool seq = f.options().return_sequences, lstm = f.num_states() == 2;
        auto dir_y = [&] { return seq ? empty({in.B, in.T, H}) : empty({in.B, H}); };
        auto yf = dir_y(), yb = dir_y();
        const int64_t Hm = mm == MergeMode::Concat ? 2 * H : H;
        auto merged = mm == MergeMode::None ? empty({0}) : (seq ? empty({in.B, in.T, Hm}) : empty({in.B, Hm}));
        auto hf = empty({in.B, H}), hb = empty({in.B, H});
        auto cf = empty({in.B, lstm ? H : 0}), cb = empty({in.B, lstm ? H : 0});
        const float* p_h0f = state_ptr(h0f, in.B, H, "forward h0");
        const float* p_h0b = state_ptr(h0b, in.B, H, "backward h0");
        const float* p_c0f = lstm ? state_ptr(c0f, in.B, H, "forward c0") : nullptr;
        const float* p_c0b = lstm ? state_ptr(c0b, in.B, H, "backward c0") : nullptr;
        LayerOutputs of{yf.mutable_data(), hf.mutable_data(), lstm ? cf.mutable_data() : nullptr};
        LayerOutputs ob{yb.mutable_data(), hb.mutable_data(), lstm ? cb.mutable_data() : nullptr};
        float* mp = mm == MergeMode::None ? nullptr : merged.mutable_data();
        {
          py::gil_scoped_release nogil;  // as in RecurrentLayer.run
          run_bidirectional(f, b, mm, in.B, in.T, in.x, in.mask, p_h0f, p_c0f, p_h0b, p_c0b, mp, of, ob);
        }
        return py::make_tuple(merged, yf, yb, hf, cf, hb, cb);
      },
      py::arg("forward"), py::arg("backward"), py::arg("merge_mode"), py::arg("x"), py::arg("mask") = py::none(),
      py::arg("h0f") = py::none(), py::arg("c0f") = py::none(), py::arg("h0b") = py::none(),
      py::arg("c0b") = py::none(),
      "Run both directions and merge; returns (merged, y_fwd, y_bwd, h_f, c_f, h_b, c_b).");
}

}  // namespace pyrnn
