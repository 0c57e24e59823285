#include "arrays.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

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

}  // namespace pyrnn
