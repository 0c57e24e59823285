// The pyrnn._core extension: registration only; each concept lives in register_*.cc.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace pyrnn {
void register_codes(py::module_& m);
void register_config(py::module_& m);
void register_layers(py::module_& m);
void register_graph(py::module_& m);
void register_stream(py::module_& m);
}  // namespace pyrnn

PYBIND11_MODULE(_core, m) {
  m.doc() = "pyrnn native core: packed recurrent layers and ISA-dispatched kernels";
  pyrnn::register_codes(m);  // first: the other bindings' signatures name these types
  pyrnn::register_config(m);
  pyrnn::register_layers(m);
  pyrnn::register_graph(m);
  pyrnn::register_stream(m);
}
