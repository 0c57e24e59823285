#include "arrays.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

namespace py = pybind11;

namespace pyrnn {

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

std::vector<farray> as_farrays(const std::vector<py::object>& xs) {
  std::vector<farray> out;
  out.reserve(xs.size());
  for (const py::object& o : xs) {
    if (farray::check_(o)) {  // float32 and C-contiguous already: no conversion
      out.push_back(py::reinterpret_borrow<farray>(o));
      continue;
    }
    farray a = farray::ensure(o);
    if (!a)
      throw py::type_error("expected a numeric array, got " + std::string(py::str(py::type::of(o).attr("__name__"))));
    out.push_back(std::move(a));
  }
  return out;
}

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

py::list to_list(const std::vector<Tensor>& out) {
  py::list result;
  std::vector<const AlignedBuffer*> seen;
  for (const Tensor& t : out) {
    const bool shared = t.buf && std::find(seen.begin(), seen.end(), t.buf.get()) != seen.end();
    if (t.buf) seen.push_back(t.buf.get());
    if (shared) {
      Tensor c = Tensor::alloc(t.shape);
      if (t.size()) std::memcpy(c.mutable_data(), t.ptr, sizeof(float) * (size_t)t.size());
      result.append(to_numpy(c));
    } else {
      result.append(to_numpy(t));
    }
  }
  return result;
}

std::vector<float*> out_arrays(const py::list& dst) {
  std::vector<float*> ptrs;
  ptrs.reserve(dst.size());
  for (size_t k = 0; k < dst.size(); ++k) {
    auto what = [k] { return "out[" + std::to_string(k) + "]: "; };  // messages only on failure
    if (!py::isinstance<py::array>(dst[k]))
      throw py::type_error(what() + "expected a numpy array, got " +
                           std::string(py::str(py::type::of(dst[k]).attr("__name__"))));
    py::array a = py::reinterpret_borrow<py::array>(dst[k]);
    if (!a.dtype().is(py::dtype::of<float>()))
      throw py::type_error(what() + "expected a float32 array, got dtype " + std::string(py::str(a.dtype())));
    if (!(a.flags() & py::array::c_style)) throw py::value_error(what() + "expected a C-contiguous array");
    if (!a.writeable()) throw py::value_error(what() + "the array is read-only");
    ptrs.push_back(static_cast<float*>(a.mutable_data()));
  }
  return ptrs;
}

void check_out_shapes(const std::vector<Tensor>& out, const py::list& dst) {
  if (dst.size() != out.size())
    throw py::value_error("out: expected " + std::to_string(out.size()) + " array(s), one per output, got " +
                          std::to_string(dst.size()));
  for (size_t k = 0; k < out.size(); ++k) {
    const Tensor& t = out[k];
    const auto a = py::reinterpret_borrow<py::array>(dst[k]);
    bool same = a.ndim() == t.rank();
    for (int i = 0; same && i < t.rank(); ++i) same = a.shape(i) == t.dim(i);
    if (!same)
      throw py::value_error("out[" + std::to_string(k) + "]: expected shape " + t.shape_str() + ", got " +
                            Tensor::borrow(shape_of(a), nullptr).shape_str());
  }
}

void copy_out(const std::vector<Tensor>& out, const std::vector<float*>& dst) {
  for (size_t k = 0; k < out.size(); ++k)
    if (out[k].size() && dst[k] != out[k].ptr) std::memmove(dst[k], out[k].ptr, sizeof(float) * (size_t)out[k].size());
}

}  // namespace pyrnn
