// Stream: a plan with recurrent states kept between calls (pyrnn.Stream wraps it).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <vector>

#include "arrays.h"
#include "pyrnn/stream.h"

namespace py = pybind11;

namespace pyrnn {

void register_stream(py::module_& m) {
  py::class_<Stream>(m, "Stream", "A plan with recurrent states kept between calls (pyrnn.Stream wraps it).")
      .def(
          py::init([](std::shared_ptr<Graph> g, size_t n_in, size_t n_out, std::vector<int64_t> widths, int64_t batch) {
            return std::make_unique<Stream>(std::move(g), n_in, n_out, std::move(widths), batch);
          }),
          py::arg("graph"), py::arg("num_inputs"), py::arg("num_outputs"), py::arg("widths"), py::arg("batch"))
      .def_property_readonly("batch", &Stream::batch)
      .def_property_readonly("num_states", &Stream::num_states)
      .def(
          "step",
          [](Stream& s, const std::vector<py::object>& inputs, const std::vector<bool>& add_time,
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
              out = s.step(in);
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
           [](const Stream& s) {
             py::list result;
             for (const Tensor& t : s.states()) result.append(to_numpy(t));
             return result;
           })
      .def(
          "set_state", [](Stream& s, size_t i, const farray& a) { s.set_state(i, a.data(), a.size()); },
          py::arg("index"), py::arg("value"))
      .def("reset", &Stream::reset, py::arg("rows"));
}

}  // namespace pyrnn
