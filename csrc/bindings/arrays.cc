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

namespace {

constexpr size_t kCopyOutMaxBytes = 4096;  // outputs up to this size are copied by fresh_numpy

}  // namespace

bool plain_farray(PyObject* o, int ndim, const FixedDims& fixed, bool writable) {
  const auto& api = py::detail::npy_api::get();
  if (Py_TYPE(o) != api.PyArray_Type_) return false;
  const auto* a = py::detail::array_proxy(o);
  const auto* d = py::detail::array_descriptor_proxy(a->descr);
  const int need =
      py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | (writable ? py::detail::npy_api::NPY_ARRAY_WRITEABLE_ : 0);
  if ((ndim >= 0 && a->nd != ndim) || d->type_num != py::detail::npy_api::NPY_FLOAT_ || d->byteorder != '=' ||
      (a->flags & need) != need)
    return false;
  for (const auto& [axis, size] : fixed)
    if (axis >= a->nd || a->dimensions[axis] != size) return false;
  return true;
}

Tensor borrow_plain(PyObject* o, bool add_time) {
  const auto* a = py::detail::array_proxy(o);
  std::vector<int64_t> shape;
  shape.reserve(static_cast<size_t>(a->nd) + (add_time ? 1 : 0));
  for (int i = 0; i < a->nd; ++i) {
    shape.push_back(a->dimensions[i]);
    if (i == 0 && add_time) shape.push_back(1);
  }
  return Tensor::borrow(std::move(shape), reinterpret_cast<const float*>(a->data));
}

py::object fresh_numpy(const Tensor& t) {
  const int64_t n = t.size();
  if (t.buf && sizeof(float) * static_cast<size_t>(n) > kCopyOutMaxBytes) return to_numpy(t);
  const auto& api = py::detail::npy_api::get();
  py::ssize_t dims[32];
  if (t.rank() > 32) return to_numpy(t);
  for (int i = 0; i < t.rank(); ++i) dims[i] = t.dim(i);
  PyObject* descr = api.PyArray_DescrFromType_(py::detail::npy_api::NPY_FLOAT_);  // stolen below
  PyObject* arr = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, t.rank(), dims, nullptr, nullptr, 0, nullptr);
  if (!arr) throw py::error_already_set();
  if (n) std::memcpy(py::detail::array_proxy(arr)->data, t.ptr, sizeof(float) * static_cast<size_t>(n));
  return py::reinterpret_steal<py::object>(arr);
}

bool write_into(const Tensor& t, PyObject* o) {
  const auto* a = py::detail::array_proxy(o);
  if (a->nd != t.rank()) return false;
  for (int i = 0; i < a->nd; ++i)
    if (a->dimensions[i] != t.dim(i)) return false;
  auto* dst = reinterpret_cast<float*>(a->data);
  if (t.size() && dst != t.ptr) std::memmove(dst, t.ptr, sizeof(float) * static_cast<size_t>(t.size()));
  return true;
}

}  // namespace pyrnn
