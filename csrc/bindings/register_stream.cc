// Stream: a plan with recurrent states kept between calls (pyrnn.Stream wraps it).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "arrays.h"
#include "pyrnn/stream.h"

namespace py = pybind11;

namespace pyrnn {
namespace {

// The Python-facing stream: a Stream plus what its fast step checks (set_fast).
struct PyStream : Stream {
  using Stream::Stream;
  bool fast = false;  // set_fast was called
  int ndim = 0;       // the step input's rank and sizes, batch included
  FixedDims fixed;
  std::vector<bool> drop_time;
  std::vector<int64_t> out_shape;  // the one output's shape; empty: no out= fast path

  // One timestep of the single input: the outputs (written into `out`, when given), or
  // None when x or out is not exactly what set_fast described; then nothing has moved.
  py::object fast_step(py::handle x, py::handle out) {
    PyObject* o = x.ptr();
    const bool has_out = !out.is_none();
    if (!fast || !plain_farray(o, ndim, fixed)) return py::none();
    if (has_out) {  // checked before the step, which moves the states
      if (out_shape.empty() || !plain_farray(out.ptr(), static_cast<int>(out_shape.size()), {}, true))
        return py::none();
      const auto* a = py::detail::array_proxy(out.ptr());
      for (size_t i = 0; i < out_shape.size(); ++i)
        if (a->dimensions[i] != out_shape[i]) return py::none();
    }
    std::vector<Tensor> in;
    in.push_back(borrow_plain(o, true));
    std::vector<Tensor> y;
    {
      py::gil_scoped_release nogil;
      y = step(std::move(in));
    }
    for (size_t k = 0; k < y.size() && k < drop_time.size(); ++k)
      if (drop_time[k] && y[k].rank() >= 2 && y[k].dim(1) == 1) y[k].shape.erase(y[k].shape.begin() + 1);
    if (has_out) {
      if (y.size() != 1 || !write_into(y[0], out.ptr()))
        throw std::logic_error("stream step: the output does not have the shape set_fast gave");
      return py::reinterpret_borrow<py::object>(out);
    }
    if (y.size() == 1) return fresh_numpy(y[0]);
    return to_list(y);
  }
};

}  // namespace

void register_stream(py::module_& m) {
  py::class_<PyStream>(m, "Stream", "A plan with recurrent states kept between calls (pyrnn.Stream wraps it).")
      .def(
          py::init([](std::shared_ptr<Graph> g, size_t n_in, size_t n_out, std::vector<int64_t> widths, int64_t batch) {
            return std::make_unique<PyStream>(std::move(g), n_in, n_out, std::move(widths), batch);
          }),
          py::arg("graph"), py::arg("num_inputs"), py::arg("num_outputs"), py::arg("widths"), py::arg("batch"))
      .def_property_readonly("batch", &Stream::batch)
      .def_property_readonly("num_states", &Stream::num_states)
      .def(
          "step",
          [](PyStream& s, const std::vector<py::object>& inputs, const std::vector<bool>& add_time,
             const std::vector<bool>& drop_time, const std::optional<py::list>& dst) -> py::object {
            // add_time[i]: input i is one timestep (batch, ...) of a (batch, time, ...)
            // input; drop_time[k]: output k is a sequence whose single step is returned
            // without its time axis. Both are views: no data moves.
            const std::vector<farray> xs = as_farrays(inputs);
            const std::vector<float*> ptrs = dst ? out_arrays(*dst) : std::vector<float*>();
            std::vector<Tensor> in = borrow(xs, add_time);
            std::vector<Tensor> out;
            {
              py::gil_scoped_release nogil;
              out = s.step(std::move(in));
            }
            for (size_t k = 0; k < out.size() && k < drop_time.size(); ++k)
              if (drop_time[k] && out[k].rank() >= 2 && out[k].dim(1) == 1)
                out[k].shape.erase(out[k].shape.begin() + 1);
            if (!dst) return to_list(out);
            // The states have already moved on here: pyrnn.Stream checks the shapes
            // before the call; this is the last line of defence.
            check_out_shapes(out, *dst);
            copy_out(out, ptrs);
            return *dst;
          },
          py::arg("inputs"), py::arg("add_time") = std::vector<bool>(), py::arg("drop_time") = std::vector<bool>(),
          py::arg("out") = py::none(),
          "One call: the outputs as a list (the `out` arrays, written, when given: one C-contiguous float32 "
          "array per output, of its shape).")
      .def("states",
           [](const PyStream& s) {
             py::list result;
             for (const Tensor& t : s.states()) result.append(to_numpy(t));
             return result;
           })
      .def(
          "set_state", [](PyStream& s, size_t i, const farray& a) { s.set_state(i, a.data(), a.size()); },
          py::arg("index"), py::arg("value"))
      .def("reset", &Stream::reset, py::arg("rows"))
      .def(
          "set_fast",
          [](PyStream& s, int ndim, FixedDims fixed, std::vector<bool> drop_time, std::vector<int64_t> out_shape) {
            s.ndim = ndim;
            s.fixed = std::move(fixed);
            s.drop_time = std::move(drop_time);
            s.out_shape = std::move(out_shape);
            s.fast = true;
          },
          py::arg("ndim"), py::arg("fixed"), py::arg("drop_time"), py::arg("out_shape"),
          "Describes fast_step's input (one timestep: rank and fixed (axis, size) pairs), the outputs' drop_time "
          "flags, and the one output's shape for out= (empty: none).")
      .def("fast_step", &PyStream::fast_step, py::arg("x"), py::arg("out") = py::none(),
           "One timestep of a plain float32 C-contiguous input as set_fast described: the outputs (or `out`, "
           "written), or None when x or out does not fit; then the states have not moved.");
}

}  // namespace pyrnn
