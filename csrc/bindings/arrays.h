// numpy arrays <-> tensors at the Python boundary.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "pyrnn/tensor.h"

namespace pyrnn {

// C-contiguous float32, converting (copying) other arrays.
using farray = pybind11::array_t<float, pybind11::array::c_style | pybind11::array::forcecast>;

inline const float* opt_ptr(const std::optional<farray>& a) { return a ? a->data() : nullptr; }

inline std::vector<int64_t> shape_of(const pybind11::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

// A float32 numpy array that owns (a reference to) the tensor's buffer; borrowed data is copied.
pybind11::array to_numpy(const Tensor& t);

// The inputs of a plan as float32 C-contiguous arrays: an array that already is one is
// taken as it is (the common case, which pybind11's array_t caster would still send
// through numpy's conversion machinery, a few hundred ns a call); anything else is
// converted (copied) like farray does, and a failed conversion raises TypeError.
std::vector<farray> as_farrays(const std::vector<pybind11::object>& xs);

// Views of the input arrays (kept alive by the caller). add_time[i]: input i is one
// timestep (batch, ...) of a (batch, time, ...) input, given a time axis of 1.
std::vector<Tensor> borrow(const std::vector<farray>& xs, const std::vector<bool>& add_time);

// Outputs as numpy arrays; two outputs on one buffer get separate copies.
pybind11::list to_list(const std::vector<Tensor>& out);

// The caller's out= arrays (a list, one per output), checked before the run: each a
// writable C-contiguous float32 numpy array, else TypeError / ValueError naming out[k]
// and what was expected. Returns their data pointers.
std::vector<float*> out_arrays(const pybind11::list& dst);

// After the run, before anything is written: one out array per output, each of its
// output's shape (ValueError naming out[k], the expected and the actual shape).
void check_out_shapes(const std::vector<Tensor>& out, const pybind11::list& dst);

// Copies the outputs into the checked buffers (no GIL needed: only raw memory is touched).
void copy_out(const std::vector<Tensor>& out, const std::vector<float*>& dst);

// -- The fast entries (FastRun, Stream.fast_step): a call that fits them skips the
// Python wrapper's checks and the general conversions; one that does not gets None and
// takes the full path, which checks everything and raises the usual errors.

// (axis, size) pairs an input must match; the other axes (batch, free sizes) may vary.
using FixedDims = std::vector<std::pair<int, int64_t>>;

// o is exactly a numpy.ndarray (no subclass), float32 in native byte order, C-contiguous
// (and writable when asked), of rank `ndim` (any when < 0) with the `fixed` sizes. Reads the array's
// fields through numpy's C layout: no conversion, no exception, no reference taken.
bool plain_farray(PyObject* o, int ndim, const FixedDims& fixed, bool writable = false);

// A view of such an array; add_time inserts a time axis of 1 after the batch.
Tensor borrow_plain(PyObject* o, bool add_time);

// One output as a new numpy array: a small one is copied into an array numpy allocates
// (cheaper than tying the tensor's buffer to a capsule; the buffer goes back to this
// thread's cache), a large one owns the tensor's buffer as to_numpy does.
pybind11::object fresh_numpy(const Tensor& t);

// Writes output t into the checked array o (plain_farray(..., writable=true)) when the
// shapes agree; false (nothing written) when they do not.
bool write_into(const Tensor& t, PyObject* o);

}  // namespace pyrnn
