// The model plan and its ops (ISA-neutral: dense products go through the per-ISA
// packed GEMM and activations through the per-ISA activation kernels).

#include "pyrnn/graph.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "pyrnn/isa.h"
#include "pyrnn/threadpool.h"

namespace pyrnn {

// ---- tensors --------------------------------------------------------------------------

int64_t Tensor::size() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace {

int64_t physical_memory_bytes() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGE_SIZE)
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) return (int64_t)pages * (int64_t)page;
#endif
  return int64_t(64) << 30;
}

std::atomic<int64_t>& memory_limit() {
  static std::atomic<int64_t> limit{physical_memory_bytes()};
  return limit;
}

std::string gib(double bytes) {  // human-readable size
  static const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 5) { bytes /= 1024.0; ++u; }
  char buf[48];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
  return buf;
}

}  // namespace

void set_tensor_memory_limit(int64_t bytes) { memory_limit() = bytes > 0 ? bytes : physical_memory_bytes(); }
int64_t tensor_memory_limit() { return memory_limit(); }

Tensor Tensor::alloc(std::vector<int64_t> shape) {
  Tensor t;
  t.shape = std::move(shape);
  // Refuse before allocating: a hostile model (RepeatVector(2**40), ...) or a huge
  // input must give an error, not an out-of-memory kill.
  const int64_t limit = memory_limit();
  int64_t n = 1;
  bool too_big = false;
  for (int64_t d : t.shape) {
    if (d < 0) throw std::length_error("negative dimension in tensor shape " + t.shape_str());
    if (d && n > (limit / 4) / d) too_big = true;
    n = too_big ? n : n * d;
  }
  if (too_big || n * 4 > limit) {
    double bytes = 4.0;
    for (int64_t d : t.shape) bytes *= (double)d;
    throw std::length_error("an intermediate tensor of shape " + t.shape_str() + " would need " + gib(bytes) +
                            ", more than the memory limit of " + gib((double)limit) +
                            " (pyrnn.set_memory_limit); use a smaller batch (predict's batch_size)");
  }
  t.buf = std::make_shared<AlignedBuffer>(n, /*zero=*/false);
  t.ptr = t.buf->data();
  return t;
}

Tensor Tensor::borrow(std::vector<int64_t> shape, const float* data) {
  Tensor t;
  t.shape = std::move(shape);
  t.ptr = data;
  return t;
}

std::string Tensor::shape_str() const {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

void Op::fail(const std::string& what) const { throw std::invalid_argument("layer '" + layer_ + "': " + what); }

const float* Op::state_arg(const std::vector<Tensor>& t, size_t i, int64_t B, int64_t H, const char* what) const {
  if (!has_arg(i)) return nullptr;
  const Tensor& st = arg(t, i);
  if (st.rank() != 2 || st.dim(0) != B || st.dim(1) != H)
    fail(std::string(what) + " must have shape (" + std::to_string(B) + ", " + std::to_string(H) + "), got " +
         st.shape_str());
  return st.ptr;
}

// ---- graph ------------------------------------------------------------------------------

void Graph::finalize(int num_slots, std::vector<int> inputs, std::vector<int> outputs,
                     std::vector<std::vector<int>> release_after) {
  if (release_after.size() != ops_.size()) throw std::invalid_argument("plan: one release list per op is needed");
  release_ = std::move(release_after);
  auto check = [&](int s) {
    if (s < 0 || s >= num_slots) throw std::invalid_argument("plan refers to a slot out of range");
  };
  for (const auto& op : ops_) {
    for (int s : op->inputs()) if (s != -1) check(s);
    for (int s : op->outputs()) if (s != -1) check(s);
  }
  for (const auto& r : release_) for (int s : r) check(s);
  for (int s : inputs) check(s);
  for (int s : outputs) check(s);
  num_slots_ = num_slots;
  inputs_ = std::move(inputs);
  outputs_ = std::move(outputs);
}

std::vector<Tensor> Graph::run(const std::vector<Tensor>& inputs) const {
  if (inputs.size() != inputs_.size())
    throw std::invalid_argument("expected " + std::to_string(inputs_.size()) + " inputs, got " +
                                std::to_string(inputs.size()));
  std::vector<Tensor> t(static_cast<size_t>(num_slots_));
  for (size_t i = 0; i < inputs.size(); ++i) t[static_cast<size_t>(inputs_[i])] = inputs[i];
  for (size_t i = 0; i < ops_.size(); ++i) {
    for (int s : ops_[i]->inputs())
      if (s >= 0 && t[static_cast<size_t>(s)].ptr == nullptr && t[static_cast<size_t>(s)].size() != 0)
        throw std::logic_error("plan reads a slot before it is written");
    try {
      ops_[i]->run(t);
    } catch (const std::length_error& e) {
      throw std::invalid_argument("layer '" + ops_[i]->layer() + "': " + e.what());
    }
    for (int s : release_[i]) t[static_cast<size_t>(s)] = Tensor{};
  }
  std::vector<Tensor> out;
  out.reserve(outputs_.size());
  for (int s : outputs_) out.push_back(t[static_cast<size_t>(s)]);
  return out;
}

namespace {

// ---- helpers ------------------------------------------------------------------------------

std::vector<float> copy_of(const float* p, int64_t n) {
  return p ? std::vector<float>(p, p + n) : std::vector<float>();
}

// Applies `act` to rows of n values (row-wise kinds normalise each row).
void apply_act(Act act, float* y, int64_t rows, int64_t n) {
  if (act == Act::Linear || rows == 0 || n == 0) return;
  const KernelTable& k = current_kernels();
  if (act == Act::Sparsemax) {  // the kernel sorts in the n floats after each row
    AlignedBuffer tmp(2 * n, false);
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(tmp.data(), y + r * n, sizeof(float) * (size_t)n);
      k.activation(act, tmp.data(), 1, n, 2 * n);
      std::memcpy(y + r * n, tmp.data(), sizeof(float) * (size_t)n);
    }
  } else if (act == Act::Softmax || act == Act::LogSoftmax) {
    k.activation(act, y, rows, n, n);
  } else {
    k.activation(act, y, 1, rows * n, rows * n);
  }
}

// Splits [0, n) into about `parts` contiguous ranges and runs fn(begin, end) on each,
// in parallel when the work is worth it.
template <class F>
void split_rows(int64_t n, double flops, F fn) {
  int64_t parts = flops < kMinParallelFlops ? 1 : std::min<int64_t>(num_threads(), n);
  if (parts <= 1) {
    if (n > 0) fn(int64_t(0), n);
    return;
  }
  const int64_t per = (n + parts - 1) / parts;
  parts = (n + per - 1) / per;
  parallel_for(static_cast<int>(parts), [&](int i) {
    const int64_t b = i * per;
    fn(b, std::min(n, b + per));
  });
}

// Iterates the non-batch elements of a tensor of non-batch shape `dims` against a
// parameter of shape `pshape` (each axis 1 or equal), calling fn(element, param index).
template <class F>
void broadcast_walk(const std::vector<int64_t>& dims, const std::vector<int64_t>& pshape, F fn) {
  const size_t r = dims.size();
  std::vector<int64_t> pstride(r, 0), idx(r, 0);
  int64_t s = 1;
  for (size_t i = r; i-- > 0;) {
    pstride[i] = pshape[i] == 1 ? 0 : s;
    s *= pshape[i];
  }
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  int64_t p = 0;
  for (int64_t e = 0; e < n; ++e) {
    fn(e, p);
    for (size_t i = r; i-- > 0;) {  // odometer increment
      if (++idx[i] < dims[i]) { p += pstride[i]; break; }
      p -= pstride[i] * (dims[i] - 1);
      idx[i] = 0;
    }
  }
}

std::vector<int64_t> non_batch(const Tensor& x) { return std::vector<int64_t>(x.shape.begin() + 1, x.shape.end()); }

// ---- dense --------------------------------------------------------------------------------

class DenseOp : public Op {
 public:
  DenseOp(std::string l, std::vector<int> in, std::vector<int> out, int64_t K, int64_t N, const float* W,
          const float* bias, Act act)
      : Op(std::move(l), std::move(in), std::move(out)), K_(K), N_(N), Np_(round_up(N, kPanel)), act_(act) {
    W_ = pack_panels(W, K, N, 1, 0, 1);
    b_ = pack_bias(bias, N, 1);
  }
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    if (x.rank() < 2 || x.shape.back() != K_)
      fail("expected input of shape (batch, ..., " + std::to_string(K_) + "), got " + x.shape_str());
    std::vector<int64_t> shape = x.shape;
    shape.back() = N_;
    Tensor y = Tensor::alloc(shape);
    const int64_t M = x.size() / K_;
    forward(x.ptr, M, y.mut());
    put(t, 0, std::move(y));
  }
  // y (M, N) = act(x (M, K) @ W + b)
  void forward(const float* x, int64_t M, float* y) const {
    const KernelTable& k = current_kernels();
    split_rows(M, 2.0 * M * K_ * N_, [&](int64_t r0, int64_t r1) {
      constexpr int64_t kRows = 64;
      AlignedBuffer tmp(std::min(kRows, r1 - r0) * Np_, false);
      for (int64_t r = r0; r < r1; r += kRows) {
        const int64_t m = std::min(kRows, r1 - r) ;
        for (int64_t i = 0; i < m; ++i) std::memcpy(tmp.data() + i * Np_, b_.data(), sizeof(float) * (size_t)Np_);
        k.gemm(true, m, Np_ / kPanel, K_, x + r * K_, K_, W_.data(), tmp.data(), Np_);
        for (int64_t i = 0; i < m; ++i) std::memcpy(y + (r + i) * N_, tmp.data() + i * Np_, sizeof(float) * (size_t)N_);
        apply_act(act_, y + r * N_, m, N_);
      }
    });
  }

 private:
  int64_t K_, N_, Np_;
  Act act_;
  AlignedBuffer W_, b_;
};

// ---- activations ------------------------------------------------------------------------

class ActivationOp : public Op {
 public:
  ActivationOp(std::string l, std::vector<int> in, std::vector<int> out, Act act)
      : Op(std::move(l), std::move(in), std::move(out)), act_(act) {}
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    Tensor y = Tensor::alloc(x.shape);
    const int64_t n = x.size();
    if (n) std::memcpy(y.mut(), x.ptr, sizeof(float) * (size_t)n);
    const int64_t last = x.rank() > 1 ? x.shape.back() : 1;
    if (last > 0) apply_act(act_, y.mut(), n / last, last);
    put(t, 0, std::move(y));
  }

 private:
  Act act_;
};

class ParamActivationOp : public Op {
 public:
  ParamActivationOp(std::string l, std::vector<int> in, std::vector<int> out, ParamActKind kind, float a, float b,
                    float c, std::vector<int64_t> pshape, const float* param)
      : Op(std::move(l), std::move(in), std::move(out)), kind_(kind), a_(a), b_(b), c_(c),
        pshape_(std::move(pshape)) {
    int64_t n = 1;
    for (int64_t d : pshape_) n *= d;
    param_ = copy_of(param, n);
  }
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    Tensor y = Tensor::alloc(x.shape);
    const float* xp = x.ptr;
    float* yp = y.mut();
    const int64_t n = x.size();
    switch (kind_) {
      case ParamActKind::Relu: {  // keras.activations.relu with parameters, step by step
        const float max_value = a_, slope = b_, thr = c_;
        for (int64_t i = 0; i < n; ++i) {
          const float v = xp[i];
          float pos = thr != 0.0f ? (v > thr ? v : 0.0f) : (v < 0.0f ? 0.0f : v);
          if (!std::isnan(max_value)) pos = pos < 0.0f ? 0.0f : (pos > max_value ? max_value : pos);
          if (slope != 0.0f) {
            const float neg = thr - v;
            pos -= slope * (neg < 0.0f ? 0.0f : neg);
          }
          yp[i] = v != v ? v : pos;
        }
        break;
      }
      case ParamActKind::LeakyRelu:
        for (int64_t i = 0; i < n; ++i) yp[i] = xp[i] >= 0.0f ? xp[i] : a_ * xp[i];
        break;
      case ParamActKind::Elu:
        for (int64_t i = 0; i < n; ++i) yp[i] = xp[i] > 0.0f ? xp[i] : a_ * std::expm1(xp[i]);
        break;
      case ParamActKind::PRelu: {
        const std::vector<int64_t> dims = non_batch(x);
        if (dims.size() != pshape_.size()) fail("PReLU input has rank " + std::to_string(x.rank()));
        for (size_t i = 0; i < dims.size(); ++i)
          if (pshape_[i] != 1 && pshape_[i] != dims[i])
            fail("PReLU alpha does not fit input shape " + x.shape_str());
        const int64_t per = x.rank() ? x.size() / std::max<int64_t>(x.dim(0), 1) : 0;
        for (int64_t b = 0; b < (x.rank() ? x.dim(0) : 0); ++b) {
          const float* xb = xp + b * per;
          float* yb = yp + b * per;
          broadcast_walk(dims, pshape_, [&](int64_t e, int64_t p) {
            const float v = xb[e];
            const float pos = v < 0.0f ? 0.0f : v, neg = -v < 0.0f ? 0.0f : -v;
            yb[e] = pos + -param_[(size_t)p] * neg;
          });
        }
        break;
      }
    }
    put(t, 0, std::move(y));
  }

 private:
  ParamActKind kind_;
  float a_, b_, c_;
  std::vector<int64_t> pshape_;
  std::vector<float> param_;
};

// ---- normalisation ------------------------------------------------------------------------

class AffineOp : public Op {
 public:
  AffineOp(std::string l, std::vector<int> in, std::vector<int> out, std::vector<int64_t> pshape,
           const float* scale, const float* shift)
      : Op(std::move(l), std::move(in), std::move(out)), pshape_(std::move(pshape)) {
    int64_t n = 1;
    for (int64_t d : pshape_) n *= d;
    scale_ = copy_of(scale, n);
    shift_ = copy_of(shift, n);
  }
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    const std::vector<int64_t> dims = non_batch(x);
    bool ok = x.rank() >= 1 && dims.size() == pshape_.size();
    for (size_t i = 0; ok && i < dims.size(); ++i) ok = pshape_[i] == 1 || pshape_[i] == dims[i];
    if (!ok) fail("input shape " + x.shape_str() + " does not fit the layer's parameters");
    Tensor y = Tensor::alloc(x.shape);
    const int64_t B = x.dim(0), per = B ? x.size() / B : 0;
    for (int64_t b = 0; b < B; ++b) {
      const float* xb = x.ptr + b * per;
      float* yb = y.mut() + b * per;
      broadcast_walk(dims, pshape_, [&](int64_t e, int64_t p) { yb[e] = xb[e] * scale_[(size_t)p] + shift_[(size_t)p]; });
    }
    put(t, 0, std::move(y));
  }

 private:
  std::vector<int64_t> pshape_;
  std::vector<float> scale_, shift_;
};

class LayerNormOp : public Op {
 public:
  LayerNormOp(std::string l, std::vector<int> in, std::vector<int> out, int64_t n, const float* gamma,
              const float* beta, float eps, bool rms)
      : Op(std::move(l), std::move(in), std::move(out)), n_(n), gamma_(copy_of(gamma, n)), beta_(copy_of(beta, n)),
        eps_(eps), rms_(rms) {}
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    int64_t tail = 1;
    for (int i = x.rank() - 1; i >= 1 && tail < n_; --i) tail *= x.dim(i);
    if (x.rank() < 2 || tail != n_)
      fail("expected the normalised axes to hold " + std::to_string(n_) + " values, got input " + x.shape_str());
    Tensor y = Tensor::alloc(x.shape);
    const int64_t rows = x.size() / n_;
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x.ptr + r * n_;
      float* yr = y.mut() + r * n_;
      double mean = 0;
      for (int64_t j = 0; j < n_; ++j) mean += xr[j];
      mean /= (double)n_;
      double var = 0;
      for (int64_t j = 0; j < n_; ++j) var += ((double)xr[j] - mean) * ((double)xr[j] - mean);
      var /= (double)n_;
      const float inv0 = (float)(1.0 / std::sqrt(var + (double)eps_));
      const float meanf = (float)mean;
      for (int64_t j = 0; j < n_; ++j) {
        const float inv = gamma_.empty() ? inv0 : inv0 * gamma_[(size_t)j];
        if (rms_) {
          yr[j] = xr[j] * inv;
        } else {
          float res = -meanf * inv;
          if (!beta_.empty()) res += beta_[(size_t)j];
          yr[j] = xr[j] * inv + res;
        }
      }
    }
    put(t, 0, std::move(y));
  }

 private:
  int64_t n_;
  std::vector<float> gamma_, beta_;
  float eps_;
  bool rms_;
};

// ---- embedding and masking ---------------------------------------------------------------

class EmbeddingOp : public Op {
 public:
  EmbeddingOp(std::string l, std::vector<int> in, std::vector<int> out, int64_t V, int64_t E, const float* table,
              bool mask_zero)
      : Op(std::move(l), std::move(in), std::move(out)), V_(V), E_(E), table_(copy_of(table, V * E)),
        mask_zero_(mask_zero) {}
  void run(std::vector<Tensor>& t) const override {
    const Tensor& ids = arg(t, 0);
    if (ids.rank() < 1) fail("expected integer ids of shape (batch, ...)");
    std::vector<int64_t> shape = ids.shape;
    shape.push_back(E_);
    Tensor y = Tensor::alloc(shape);
    const int64_t n = ids.size();
    for (int64_t i = 0; i < n; ++i) {
      const float f = ids.ptr[i];
      if (!(f > -(float)V_ - 1.0f && f < (float)V_))  // also refuses NaN
        fail("id " + std::to_string(f) + " is out of range for input_dim=" + std::to_string(V_));
      int64_t id = (int64_t)f;  // truncation, as Keras's cast to int
      if (id < 0) id += V_;
      if (id < 0 || id >= V_) fail("id " + std::to_string(f) + " is out of range for input_dim=" + std::to_string(V_));
      std::memcpy(y.mut() + i * E_, table_.data() + id * E_, sizeof(float) * (size_t)E_);
    }
    if (mask_zero_) {
      Tensor m = Tensor::alloc(ids.shape);
      for (int64_t i = 0; i < n; ++i) m.mut()[i] = (int64_t)ids.ptr[i] != 0 ? 1.0f : 0.0f;
      put(t, 1, std::move(m));
    }
    put(t, 0, std::move(y));
  }

 private:
  int64_t V_, E_;
  std::vector<float> table_;
  bool mask_zero_;
};

class MaskingOp : public Op {
 public:
  MaskingOp(std::string l, std::vector<int> in, std::vector<int> out, float value)
      : Op(std::move(l), std::move(in), std::move(out)), value_(value) {}
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    if (x.rank() < 3) fail("expected input of shape (batch, time, features), got " + x.shape_str());
    const int64_t F = x.shape.back(), rows = F ? x.size() / F : 0;
    Tensor y = Tensor::alloc(x.shape);
    Tensor m = Tensor::alloc(std::vector<int64_t>(x.shape.begin(), x.shape.end() - 1));
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x.ptr + r * F;
      bool any = false;
      for (int64_t j = 0; j < F; ++j) any = any || xr[j] != value_;
      m.mut()[r] = any ? 1.0f : 0.0f;
      for (int64_t j = 0; j < F; ++j) y.mut()[r * F + j] = any ? xr[j] : 0.0f * xr[j];
    }
    put(t, 0, std::move(y));
    put(t, 1, std::move(m));
  }

 private:
  float value_;
};

class MaskCombineOp : public Op {
 public:
  MaskCombineOp(std::string l, std::vector<int> in, std::vector<int> out, bool any)
      : Op(std::move(l), std::move(in), std::move(out)), any_(any) {}
  void run(std::vector<Tensor>& t) const override {
    const Tensor& a = arg(t, 0);
    Tensor y = Tensor::alloc(a.shape);
    const int64_t n = a.size();
    for (int64_t i = 0; i < n; ++i) y.mut()[i] = a.ptr[i] != 0.0f ? 1.0f : 0.0f;
    for (size_t k = 1; k < in_.size(); ++k) {
      const Tensor& b = arg(t, k);
      if (b.shape != a.shape) fail("masks of different shapes " + a.shape_str() + " and " + b.shape_str());
      if (any_) {
        for (int64_t i = 0; i < n; ++i) if (b.ptr[i] != 0.0f) y.mut()[i] = 1.0f;
      } else {
        for (int64_t i = 0; i < n; ++i) if (b.ptr[i] == 0.0f) y.mut()[i] = 0.0f;
      }
    }
    put(t, 0, std::move(y));
  }

 private:
  bool any_;
};

// ---- recurrent layers -----------------------------------------------------------------------

std::vector<uint8_t> mask_bytes(const Tensor& m, int64_t B, int64_t T, const std::string& who) {
  if (m.rank() != 2 || m.dim(0) != B || m.dim(1) != T)
    throw std::invalid_argument("layer '" + who + "': mask " + m.shape_str() + " does not match the input's (batch, time)");
  std::vector<uint8_t> out((size_t)(B * T));
  for (int64_t i = 0; i < B * T; ++i) out[(size_t)i] = m.ptr[i] != 0.0f;
  return out;
}

class RnnOp : public Op {
 public:
  RnnOp(std::string l, std::vector<int> in, std::vector<int> out, std::shared_ptr<const RecurrentLayer> cell)
      : Op(std::move(l), std::move(in), std::move(out)), cell_(std::move(cell)) {}
  // in [x, mask, h0, c0, prev0], out [y, h, c, prev]; prev is the last valid output,
  // carried between the calls of a stream so masked steps repeat it as in one long call.
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    const int64_t D = cell_->input_size(), H = cell_->units();
    if (x.rank() != 3 || x.dim(2) != D)
      fail("expected input of shape (batch, time, " + std::to_string(D) + "), got " + x.shape_str());
    const int64_t B = x.dim(0), T = x.dim(1);
    if (T < 1) fail("the input needs at least one timestep, got " + x.shape_str());
    std::vector<uint8_t> mask;
    if (has_arg(1)) mask = mask_bytes(arg(t, 1), B, T, layer_);
    static const char* what[3] = {"initial state h", "initial state c", "previous output"};
    const float* s[3];
    for (size_t i = 0; i < 3; ++i) s[i] = state_arg(t, 2 + i, B, H, what[i]);
    const bool lstm = cell_->num_states() == 2;
    const bool want_prev = out_.size() > 3 && out_[3] >= 0;
    Tensor y = cell_->options().return_sequences ? Tensor::alloc({B, T, H}) : Tensor::alloc({B, H});
    Tensor h = Tensor::alloc({B, H});
    Tensor c = Tensor::alloc({B, lstm ? H : 0});
    Tensor prev = want_prev ? Tensor::alloc({B, H}) : Tensor{};
    LayerOutputs outs{y.mut(), h.mut(), lstm ? c.mut() : nullptr, want_prev ? prev.mut() : nullptr};
    cell_->run(B, T, x.ptr, mask.empty() ? nullptr : mask.data(), s[0], lstm ? s[1] : nullptr, outs,
               cell_->options().zero_output_for_mask, s[2]);
    put(t, 0, std::move(y));
    put(t, 1, std::move(h));
    if (lstm) put(t, 2, std::move(c));
    if (want_prev) put(t, 3, std::move(prev));
  }

 private:
  std::shared_ptr<const RecurrentLayer> cell_;
};

class BidirectionalOp : public Op {
 public:
  BidirectionalOp(std::string l, std::vector<int> in, std::vector<int> out, std::shared_ptr<const RecurrentLayer> f,
                  std::shared_ptr<const RecurrentLayer> b, MergeMode mode)
      : Op(std::move(l), std::move(in), std::move(out)), f_(std::move(f)), b_(std::move(b)), mode_(mode) {
    if (f_->units() != b_->units() || f_->input_size() != b_->input_size() || f_->num_states() != b_->num_states())
      throw std::invalid_argument("layer '" + layer_ + "': forward and backward layers disagree in shape");
  }
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    const int64_t D = f_->input_size(), H = f_->units();
    if (x.rank() != 3 || x.dim(2) != D)
      fail("expected input of shape (batch, time, " + std::to_string(D) + "), got " + x.shape_str());
    const int64_t B = x.dim(0), T = x.dim(1);
    if (T < 1) fail("the input needs at least one timestep, got " + x.shape_str());
    std::vector<uint8_t> mask;
    if (has_arg(1)) mask = mask_bytes(arg(t, 1), B, T, layer_);
    const float* s[4];
    for (size_t i = 0; i < 4; ++i) s[i] = state_arg(t, 2 + i, B, H, ("initial state " + std::to_string(i)).c_str());
    const bool lstm = f_->num_states() == 2, seq = f_->options().return_sequences;
    auto ys = [&](int64_t h) { return seq ? Tensor::alloc({B, T, h}) : Tensor::alloc({B, h}); };
    Tensor yf = ys(H), yb = ys(H);
    Tensor merged = mode_ == MergeMode::None ? Tensor{} : ys(mode_ == MergeMode::Concat ? 2 * H : H);
    Tensor hf = Tensor::alloc({B, H}), hb = Tensor::alloc({B, H});
    Tensor cf = Tensor::alloc({B, lstm ? H : 0}), cb = Tensor::alloc({B, lstm ? H : 0});
    run_bidirectional(*f_, *b_, mode_, B, T, x.ptr, mask.empty() ? nullptr : mask.data(), s[0],
                      lstm ? s[1] : nullptr, lstm ? s[2] : s[1], lstm ? s[3] : nullptr,
                      mode_ == MergeMode::None ? nullptr : merged.mut(),
                      LayerOutputs{yf.mut(), hf.mut(), lstm ? cf.mut() : nullptr},
                      LayerOutputs{yb.mut(), hb.mut(), lstm ? cb.mut() : nullptr});
    if (mode_ == MergeMode::None) {
      put(t, 0, std::move(yf));
      put(t, 1, std::move(yb));
    } else {
      put(t, 0, std::move(merged));
    }
    put(t, 2, std::move(hf));
    if (lstm) put(t, 3, std::move(cf));
    put(t, 4, std::move(hb));
    if (lstm) put(t, 5, std::move(cb));
  }

 private:
  std::shared_ptr<const RecurrentLayer> f_, b_;
  MergeMode mode_;
};

// ---- shape ops -----------------------------------------------------------------------------

class ReshapeOp : public Op {
 public:
  ReshapeOp(std::string l, std::vector<int> in, std::vector<int> out, std::vector<int64_t> target)
      : Op(std::move(l), std::move(in), std::move(out)), target_(std::move(target)) {}
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    if (x.rank() < 1) fail("expected a batched input");
    const int64_t B = x.dim(0), per = B ? x.size() / B : 0;
    std::vector<int64_t> shape{B};
    int64_t known = 1, free = -1;
    for (size_t i = 0; i < target_.size(); ++i) {
      if (target_[i] < 0) free = (int64_t)i + 1;
      else known *= target_[i];
      shape.push_back(target_[i]);
    }
    if (free >= 0) {
      if (known == 0 || (B && per % known)) fail("cannot reshape " + x.shape_str() + " to the target shape");
      shape[(size_t)free] = B ? per / known : 0;
    } else if (B && known != per) {
      fail("cannot reshape " + x.shape_str() + " to a shape of " + std::to_string(known) + " values per sample");
    }
    Tensor y = x;
    y.shape = shape;
    put(t, 0, std::move(y));
  }

 private:
  std::vector<int64_t> target_;
};

class FoldTimeOp : public Op {
 public:
  using Op::Op;
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    if (x.rank() < 3) fail("TimeDistributed expects an input of shape (batch, time, ...), got " + x.shape_str());
    Tensor y = x;
    y.shape.erase(y.shape.begin());
    y.shape[0] = x.dim(0) * x.dim(1);
    put(t, 0, std::move(y));
  }
};

class UnfoldTimeOp : public Op {
 public:
  using Op::Op;
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    const Tensor& ref = arg(t, 1);
    if (x.rank() < 1 || x.dim(0) != ref.dim(0) * ref.dim(1)) fail("inner layer changed the number of samples");
    Tensor y = x;
    y.shape[0] = ref.dim(1);
    y.shape.insert(y.shape.begin(), ref.dim(0));
    put(t, 0, std::move(y));
  }
};

class PermuteOp : public Op {
 public:
  PermuteOp(std::string l, std::vector<int> in, std::vector<int> out, std::vector<int> perm)
      : Op(std::move(l), std::move(in), std::move(out)), perm_(std::move(perm)) {}
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    const size_t r = perm_.size();
    if ((size_t)x.rank() != r + 1) fail("expected an input of rank " + std::to_string(r + 1) + ", got " + x.shape_str());
    const std::vector<int64_t> dims = non_batch(x);
    std::vector<int64_t> odims(r), in_stride(r);
    int64_t s = 1;
    for (size_t i = r; i-- > 0;) { in_stride[i] = s; s *= dims[i]; }
    std::vector<int64_t> ostr(r);  // input stride of each output axis
    for (size_t i = 0; i < r; ++i) { odims[i] = dims[(size_t)perm_[i]]; ostr[i] = in_stride[(size_t)perm_[i]]; }
    std::vector<int64_t> shape{x.dim(0)};
    shape.insert(shape.end(), odims.begin(), odims.end());
    Tensor y = Tensor::alloc(shape);
    const int64_t per = s;
    for (int64_t b = 0; b < x.dim(0); ++b) {
      const float* xb = x.ptr + b * per;
      float* yb = y.mut() + b * per;
      std::vector<int64_t> idx(r, 0);
      int64_t src = 0;
      for (int64_t e = 0; e < per; ++e) {
        yb[e] = xb[src];
        for (size_t i = r; i-- > 0;) {
          if (++idx[i] < odims[i]) { src += ostr[i]; break; }
          src -= ostr[i] * (odims[i] - 1);
          idx[i] = 0;
        }
      }
    }
    put(t, 0, std::move(y));
  }

 private:
  std::vector<int> perm_;
};

class RepeatOp : public Op {
 public:
  RepeatOp(std::string l, std::vector<int> in, std::vector<int> out, int64_t n)
      : Op(std::move(l), std::move(in), std::move(out)), n_(n) {}
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    if (x.rank() != 2) fail("expected input of shape (batch, features), got " + x.shape_str());
    const int64_t B = x.dim(0), F = x.dim(1);
    Tensor y = Tensor::alloc({B, n_, F});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < n_; ++i) std::memcpy(y.mut() + (b * n_ + i) * F, x.ptr + b * F, sizeof(float) * (size_t)F);
    put(t, 0, std::move(y));
  }

 private:
  int64_t n_;
};

class MergeOp : public Op {
 public:
  MergeOp(std::string l, std::vector<int> in, std::vector<int> out, MergeKind kind, int axis)
      : Op(std::move(l), std::move(in), std::move(out)), kind_(kind), axis_(axis) {}
  void run(std::vector<Tensor>& t) const override {
    const Tensor& a = arg(t, 0);
    if (kind_ == MergeKind::Concatenate) return concat(t);
    for (size_t k = 1; k < in_.size(); ++k)
      if (arg(t, k).shape != a.shape)
        fail("inputs have different shapes " + a.shape_str() + " and " + arg(t, k).shape_str());
    Tensor y = Tensor::alloc(a.shape);
    float* yp = y.mut();
    const int64_t n = a.size();
    if (n) std::memcpy(yp, a.ptr, sizeof(float) * (size_t)n);
    for (size_t k = 1; k < in_.size(); ++k) {
      const float* b = arg(t, k).ptr;
      switch (kind_) {
        case MergeKind::Add: case MergeKind::Average: for (int64_t i = 0; i < n; ++i) yp[i] += b[i]; break;
        case MergeKind::Subtract: for (int64_t i = 0; i < n; ++i) yp[i] -= b[i]; break;
        case MergeKind::Multiply: for (int64_t i = 0; i < n; ++i) yp[i] *= b[i]; break;
        case MergeKind::Maximum: for (int64_t i = 0; i < n; ++i) yp[i] = std::fmax(yp[i], b[i]); break;
        case MergeKind::Minimum: for (int64_t i = 0; i < n; ++i) yp[i] = std::fmin(yp[i], b[i]); break;
        case MergeKind::Concatenate: break;
      }
    }
    if (kind_ == MergeKind::Average) {
      const float k = (float)in_.size();
      for (int64_t i = 0; i < n; ++i) yp[i] /= k;
    }
    put(t, 0, std::move(y));
  }

 private:
  void concat(std::vector<Tensor>& t) const {
    const Tensor& a = arg(t, 0);
    if (axis_ < 1 || axis_ >= a.rank()) fail("concatenation axis out of range for input " + a.shape_str());
    std::vector<int64_t> shape = a.shape;
    shape[(size_t)axis_] = 0;
    for (size_t k = 0; k < in_.size(); ++k) {
      const Tensor& b = arg(t, k);
      bool ok = b.rank() == a.rank();
      for (int i = 0; ok && i < a.rank(); ++i) ok = i == axis_ || b.dim(i) == a.dim(i);
      if (!ok) fail("cannot concatenate " + a.shape_str() + " and " + b.shape_str() + " on axis " + std::to_string(axis_));
      shape[(size_t)axis_] += b.dim(axis_);
    }
    Tensor y = Tensor::alloc(shape);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis_; ++i) outer *= a.dim(i);
    for (int i = axis_ + 1; i < a.rank(); ++i) inner *= a.dim(i);
    const int64_t orow = shape[(size_t)axis_] * inner;
    int64_t off = 0;
    for (size_t k = 0; k < in_.size(); ++k) {
      const Tensor& b = arg(t, k);
      const int64_t brow = b.dim(axis_) * inner;
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(y.mut() + o * orow + off, b.ptr + o * brow, sizeof(float) * (size_t)brow);
      off += brow;
    }
    put(t, 0, std::move(y));
  }

  MergeKind kind_;
  int axis_;
};

// Keras 3's Maximum / Minimum / Multiply with masks. in = [x_0..x_{n-1}, m_0..m_{n-1}]
// (-1 for an unmasked input); masks are (B, T) over x of shape (B, T, ...).
// Maximum/Minimum: a masked position of a new input takes the running output, and a
// masked position of the running output takes the new input, before the op
// (keras/src/layers/merging/base_merge.py, _apply_merge_op_and_or_mask).
// Multiply: masked positions count as 1; when every input is masked, positions that
// no mask marks valid become 0 (merging/multiply.py).
class MaskedMergeOp : public Op {
 public:
  MaskedMergeOp(std::string l, std::vector<int> in, std::vector<int> out, MergeKind kind)
      : Op(std::move(l), std::move(in), std::move(out)), kind_(kind) {}
  void run(std::vector<Tensor>& t) const override {
    const size_t n = in_.size() / 2;
    const Tensor& a = arg(t, 0);
    if (a.rank() < 2) fail("masked merge needs inputs of shape (batch, time, ...), got " + a.shape_str());
    const int64_t rows = a.dim(0) * a.dim(1), size = a.size(), inner = rows ? size / rows : 0;
    std::vector<const float*> masks(n, nullptr);
    for (size_t k = 0; k < n; ++k) {
      if (arg(t, k).shape != a.shape)
        fail("inputs have different shapes " + a.shape_str() + " and " + arg(t, k).shape_str());
      if (has_arg(n + k)) {
        const Tensor& m = arg(t, n + k);
        if (m.rank() != 2 || m.dim(0) != a.dim(0) || m.dim(1) != a.dim(1))
          fail("mask " + m.shape_str() + " does not fit input " + a.shape_str());
        masks[k] = m.ptr;
      }
    }
    Tensor y = Tensor::alloc(a.shape);
    float* out = y.mut();
    if (kind_ == MergeKind::Multiply) {
      bool all = true;
      for (const float* m : masks) all = all && m;
      for (int64_t e = 0; e < size; ++e) {
        const int64_t p = e / inner;
        float acc = 0.0f;
        bool any_valid = false;
        for (size_t k = 0; k < n; ++k) {
          const float* m = masks[k];
          const float v = (m && m[p] == 0.0f) ? 1.0f : arg(t, k).ptr[e];
          any_valid = any_valid || (m && m[p] != 0.0f);
          acc = k == 0 ? v : acc * v;
        }
        out[e] = (all && !any_valid) ? 0.0f : acc;
      }
    } else {
      const bool mx = kind_ == MergeKind::Maximum;
      std::vector<uint8_t> om((size_t)rows, 1);
      bool has_om = masks[0] != nullptr;
      if (has_om) for (int64_t p = 0; p < rows; ++p) om[(size_t)p] = masks[0][p] != 0.0f;
      if (size) std::memcpy(out, a.ptr, sizeof(float) * (size_t)size);
      for (size_t k = 1; k < n; ++k) {
        const float* xk = arg(t, k).ptr;
        const float* m = masks[k];
        for (int64_t e = 0; e < size; ++e) {
          const int64_t p = e / inner;
          float v = xk[e];
          if (m && m[p] == 0.0f) v = out[e];
          float o = out[e];
          if (has_om && !om[(size_t)p]) o = v;
          out[e] = mx ? (o > v || o != o ? o : v) : (o < v || o != o ? o : v);
        }
        if (has_om && m) {
          for (int64_t p = 0; p < rows; ++p) om[(size_t)p] = om[(size_t)p] || m[p] != 0.0f;
        } else {
          has_om = false;
        }
      }
    }
    put(t, 0, std::move(y));
  }

 private:
  MergeKind kind_;
};

// ---- convolution and pooling ---------------------------------------------------------------

// Output length and left padding of a 1-D window op (TensorFlow's rules).
void window_geometry(int64_t T, int64_t span, int64_t stride, ConvPad pad, int64_t* Tout, int64_t* left) {
  switch (pad) {
    case ConvPad::Valid:
      *left = 0;
      *Tout = T >= span ? (T - span) / stride + 1 : 0;
      break;
    case ConvPad::Same: {
      *Tout = (T + stride - 1) / stride;
      const int64_t total = std::max<int64_t>((*Tout - 1) * stride + span - T, 0);
      *left = total / 2;
      break;
    }
    case ConvPad::Causal:
      *left = span - 1;
      *Tout = (T - 1) / stride + 1;
      break;
  }
}

class Conv1DOp : public Op {
 public:
  Conv1DOp(std::string l, std::vector<int> in, std::vector<int> out, int64_t k, int64_t cin, int64_t cout,
           const float* kernel, const float* bias, int64_t stride, int64_t dilation, ConvPad pad, Act act)
      : Op(std::move(l), std::move(in), std::move(out)), k_(k), cin_(cin), cout_(cout), np_(round_up(cout, kPanel)),
        stride_(stride), dil_(dilation), pad_(pad), act_(act) {
    const int64_t tap = np_ * cin;
    W_ = AlignedBuffer(k * tap);
    for (int64_t j = 0; j < k; ++j) {
      AlignedBuffer p = pack_panels(kernel + j * cin * cout, cin, cout, 1, 0, 1);
      std::memcpy(W_.data() + j * tap, p.data(), sizeof(float) * (size_t)tap);
    }
    b_ = pack_bias(bias, cout, 1);
  }
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    if (x.rank() != 3 || x.dim(2) != cin_)
      fail("expected input of shape (batch, time, " + std::to_string(cin_) + "), got " + x.shape_str());
    const int64_t B = x.dim(0), T = x.dim(1), span = (k_ - 1) * dil_ + 1;
    int64_t Tout, left;
    window_geometry(T, span, stride_, pad_, &Tout, &left);
    if (Tout < 1) fail("the input has " + std::to_string(T) + " timesteps, fewer than the kernel's span " + std::to_string(span));
    Tensor y = Tensor::alloc({B, Tout, cout_});
    const KernelTable& kt = current_kernels();
    split_rows(B, 2.0 * B * Tout * k_ * cin_ * cout_, [&](int64_t b0, int64_t b1) {
      AlignedBuffer tmp(Tout * np_, false);
      for (int64_t b = b0; b < b1; ++b) {
        for (int64_t i = 0; i < Tout; ++i) std::memcpy(tmp.data() + i * np_, b_.data(), sizeof(float) * (size_t)np_);
        for (int64_t j = 0; j < k_; ++j) {
          const int64_t shift = j * dil_ - left;  // input index = t*stride + shift
          int64_t lo = shift >= 0 ? 0 : (-shift + stride_ - 1) / stride_;
          int64_t hi = (T - 1 - shift) >= 0 ? (T - 1 - shift) / stride_ : -1;
          hi = std::min(hi, Tout - 1);
          if (hi < lo) continue;
          kt.gemm(true, hi - lo + 1, np_ / kPanel, cin_, x.ptr + (b * T + lo * stride_ + shift) * cin_,
                  stride_ * cin_, W_.data() + j * np_ * cin_, tmp.data() + lo * np_, np_);
        }
        float* yb = y.mut() + b * Tout * cout_;
        for (int64_t i = 0; i < Tout; ++i) std::memcpy(yb + i * cout_, tmp.data() + i * np_, sizeof(float) * (size_t)cout_);
        apply_act(act_, yb, Tout, cout_);
      }
    });
    put(t, 0, std::move(y));
  }

 private:
  int64_t k_, cin_, cout_, np_, stride_, dil_;
  ConvPad pad_;
  Act act_;
  AlignedBuffer W_, b_;
};

class Pool1DOp : public Op {
 public:
  Pool1DOp(std::string l, std::vector<int> in, std::vector<int> out, PoolKind kind, int64_t pool, int64_t stride,
           bool same)
      : Op(std::move(l), std::move(in), std::move(out)), kind_(kind), pool_(pool), stride_(stride), same_(same) {}
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    if (x.rank() != 3) fail("expected input of shape (batch, time, channels), got " + x.shape_str());
    const int64_t B = x.dim(0), T = x.dim(1), C = x.dim(2);
    int64_t Tout, left;
    window_geometry(T, pool_, stride_, same_ ? ConvPad::Same : ConvPad::Valid, &Tout, &left);
    if (Tout < 1) fail("the input has " + std::to_string(T) + " timesteps, fewer than pool_size " + std::to_string(pool_));
    Tensor y = Tensor::alloc({B, Tout, C});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t o = 0; o < Tout; ++o) {
        const int64_t s0 = std::max<int64_t>(o * stride_ - left, 0), s1 = std::min<int64_t>(o * stride_ - left + pool_, T);
        float* yr = y.mut() + (b * Tout + o) * C;
        for (int64_t c = 0; c < C; ++c) {
          float acc = kind_ == PoolKind::Max ? -std::numeric_limits<float>::infinity() : 0.0f;
          for (int64_t s = s0; s < s1; ++s) {
            const float v = x.ptr[(b * T + s) * C + c];
            if (kind_ == PoolKind::Max) acc = (v > acc || v != v) ? v : acc;
            else acc += v;
          }
          yr[c] = kind_ == PoolKind::Max ? acc : acc / (float)(s1 - s0);
        }
      }
    put(t, 0, std::move(y));
  }

 private:
  PoolKind kind_;
  int64_t pool_, stride_;
  bool same_;
};

class GlobalPool1DOp : public Op {
 public:
  GlobalPool1DOp(std::string l, std::vector<int> in, std::vector<int> out, PoolKind kind, bool keepdims)
      : Op(std::move(l), std::move(in), std::move(out)), kind_(kind), keepdims_(keepdims) {}
  void run(std::vector<Tensor>& t) const override {
    const Tensor& x = arg(t, 0);
    if (x.rank() != 3) fail("expected input of shape (batch, time, channels), got " + x.shape_str());
    const int64_t B = x.dim(0), T = x.dim(1), C = x.dim(2);
    const Tensor* m = has_arg(1) ? &arg(t, 1) : nullptr;
    if (m && (m->rank() != 2 || m->dim(0) != B || m->dim(1) != T)) fail("mask " + m->shape_str() + " does not fit input " + x.shape_str());
    Tensor y = keepdims_ ? Tensor::alloc({B, 1, C}) : Tensor::alloc({B, C});
    std::vector<double> acc((size_t)C);
    for (int64_t b = 0; b < B; ++b) {
      float* yr = y.mut() + b * C;
      if (kind_ == PoolKind::Max) {
        for (int64_t c = 0; c < C; ++c) {
          float v = -std::numeric_limits<float>::infinity();
          for (int64_t s = 0; s < T; ++s) {
            const float u = x.ptr[(b * T + s) * C + c];
            v = (u > v || u != u) ? u : v;
          }
          yr[c] = v;
        }
        continue;
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      double count = 0;
      for (int64_t s = 0; s < T; ++s) {
        const double w = m ? (m->ptr[b * T + s] != 0.0f ? 1.0 : 0.0) : 1.0;
        count += w;
        if (w == 0.0) continue;
        for (int64_t c = 0; c < C; ++c) acc[(size_t)c] += x.ptr[(b * T + s) * C + c];
      }
      for (int64_t c = 0; c < C; ++c) yr[c] = (float)(acc[(size_t)c] / count);  // 0/0 = NaN, as Keras
    }
    put(t, 0, std::move(y));
  }

 private:
  PoolKind kind_;
  bool keepdims_;
};

}  // namespace

// ---- streams ---------------------------------------------------------------------------------

Stream::Stream(std::shared_ptr<const Graph> graph, size_t num_inputs, size_t num_outputs,
               std::vector<int64_t> widths, int64_t batch)
    : graph_(std::move(graph)), num_inputs_(num_inputs), num_outputs_(num_outputs), batch_(batch) {
  if (batch < 1) throw std::invalid_argument("a stream needs a batch size >= 1");
  if (graph_->num_inputs() != num_inputs + widths.size())
    throw std::invalid_argument("stream: the plan's inputs do not match its states");
  for (int64_t w : widths) {
    Tensor st = Tensor::alloc({batch, w});
    std::memset(st.mut(), 0, sizeof(float) * (size_t)st.size());
    states_.push_back(std::move(st));
  }
}

std::vector<Tensor> Stream::step(const std::vector<Tensor>& inputs) {
  if (inputs.size() != num_inputs_)
    throw std::invalid_argument("expected " + std::to_string(num_inputs_) + " inputs, got " +
                                std::to_string(inputs.size()));
  for (const Tensor& x : inputs)
    if (x.rank() < 1 || x.dim(0) != batch_)
      throw std::invalid_argument("this stream has batch size " + std::to_string(batch_) + ", got an input of shape " +
                                  x.shape_str());
  std::lock_guard<std::mutex> lock(mu_);  // one call at a time per stream
  std::vector<Tensor> in(inputs);
  in.insert(in.end(), states_.begin(), states_.end());
  std::vector<Tensor> out = graph_->run(in);
  if (out.size() != num_outputs_ + states_.size()) throw std::logic_error("stream plan returned the wrong outputs");
  for (size_t i = 0; i < states_.size(); ++i) {
    Tensor st = out[num_outputs_ + i];
    bool shared = !st.buf;  // borrowed: a state passed straight through
    for (size_t k = 0; k < num_outputs_ && !shared; ++k) shared = out[k].buf == st.buf;
    if (shared) {  // the caller may write to its outputs: keep a private copy
      Tensor c = Tensor::alloc(st.shape);
      if (st.size()) std::memcpy(c.mut(), st.ptr, sizeof(float) * (size_t)st.size());
      st = std::move(c);
    }
    states_[i] = std::move(st);
  }
  out.resize(num_outputs_);
  return out;
}

std::vector<Tensor> Stream::states() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Tensor> copies;
  for (const Tensor& s : states_) {
    Tensor c = Tensor::alloc(s.shape);
    if (s.size()) std::memcpy(c.mut(), s.ptr, sizeof(float) * (size_t)s.size());
    copies.push_back(std::move(c));
  }
  return copies;
}

void Stream::set_state(size_t i, const float* data, int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  if (i >= states_.size()) throw std::invalid_argument("no such state");
  if (n != states_[i].size()) throw std::invalid_argument("state size mismatch");
  Tensor c = Tensor::alloc(states_[i].shape);
  if (n) std::memcpy(c.mut(), data, sizeof(float) * (size_t)n);
  states_[i] = std::move(c);
}

void Stream::reset(const std::vector<int64_t>& rows) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t r : rows)
    if (r < 0 || r >= batch_) throw std::invalid_argument("row " + std::to_string(r) + " is outside the batch");
  for (Tensor& s : states_) {
    Tensor c = Tensor::alloc(s.shape);
    const int64_t w = s.dim(1);
    if (rows.empty()) {
      std::memset(c.mut(), 0, sizeof(float) * (size_t)c.size());
    } else {
      std::memcpy(c.mut(), s.ptr, sizeof(float) * (size_t)s.size());
      for (int64_t r : rows) std::memset(c.mut() + r * w, 0, sizeof(float) * (size_t)w);
    }
    s = std::move(c);
  }
}

// ---- factories -------------------------------------------------------------------------------

std::unique_ptr<Op> make_dense(std::string l, std::vector<int> in, std::vector<int> out, int64_t K, int64_t N,
                               const float* W, const float* bias, Act act) {
  return std::make_unique<DenseOp>(std::move(l), std::move(in), std::move(out), K, N, W, bias, act);
}
std::unique_ptr<Op> make_activation(std::string l, std::vector<int> in, std::vector<int> out, Act act) {
  return std::make_unique<ActivationOp>(std::move(l), std::move(in), std::move(out), act);
}
std::unique_ptr<Op> make_param_activation(std::string l, std::vector<int> in, std::vector<int> out, ParamActKind kind,
                                          float a, float b, float c, std::vector<int64_t> pshape, const float* param) {
  return std::make_unique<ParamActivationOp>(std::move(l), std::move(in), std::move(out), kind, a, b, c,
                                             std::move(pshape), param);
}
std::unique_ptr<Op> make_affine(std::string l, std::vector<int> in, std::vector<int> out, std::vector<int64_t> pshape,
                                const float* scale, const float* shift) {
  return std::make_unique<AffineOp>(std::move(l), std::move(in), std::move(out), std::move(pshape), scale, shift);
}
std::unique_ptr<Op> make_layer_norm(std::string l, std::vector<int> in, std::vector<int> out, int64_t n,
                                    const float* gamma, const float* beta, float eps, bool rms) {
  return std::make_unique<LayerNormOp>(std::move(l), std::move(in), std::move(out), n, gamma, beta, eps, rms);
}
std::unique_ptr<Op> make_embedding(std::string l, std::vector<int> in, std::vector<int> out, int64_t V, int64_t E,
                                   const float* table, bool mask_zero) {
  return std::make_unique<EmbeddingOp>(std::move(l), std::move(in), std::move(out), V, E, table, mask_zero);
}
std::unique_ptr<Op> make_masking(std::string l, std::vector<int> in, std::vector<int> out, float value) {
  return std::make_unique<MaskingOp>(std::move(l), std::move(in), std::move(out), value);
}
std::unique_ptr<Op> make_rnn(std::string l, std::vector<int> in, std::vector<int> out,
                             std::shared_ptr<const RecurrentLayer> cell) {
  return std::make_unique<RnnOp>(std::move(l), std::move(in), std::move(out), std::move(cell));
}
std::unique_ptr<Op> make_bidirectional(std::string l, std::vector<int> in, std::vector<int> out,
                                       std::shared_ptr<const RecurrentLayer> f, std::shared_ptr<const RecurrentLayer> b,
                                       MergeMode mode) {
  return std::make_unique<BidirectionalOp>(std::move(l), std::move(in), std::move(out), std::move(f), std::move(b), mode);
}
std::unique_ptr<Op> make_reshape(std::string l, std::vector<int> in, std::vector<int> out, std::vector<int64_t> target) {
  return std::make_unique<ReshapeOp>(std::move(l), std::move(in), std::move(out), std::move(target));
}
std::unique_ptr<Op> make_permute(std::string l, std::vector<int> in, std::vector<int> out, std::vector<int> perm) {
  return std::make_unique<PermuteOp>(std::move(l), std::move(in), std::move(out), std::move(perm));
}
std::unique_ptr<Op> make_repeat(std::string l, std::vector<int> in, std::vector<int> out, int64_t n) {
  return std::make_unique<RepeatOp>(std::move(l), std::move(in), std::move(out), n);
}
std::unique_ptr<Op> make_merge(std::string l, std::vector<int> in, std::vector<int> out, MergeKind kind, int axis) {
  return std::make_unique<MergeOp>(std::move(l), std::move(in), std::move(out), kind, axis);
}
std::unique_ptr<Op> make_masked_merge(std::string l, std::vector<int> in, std::vector<int> out, MergeKind kind) {
  return std::make_unique<MaskedMergeOp>(std::move(l), std::move(in), std::move(out), kind);
}
std::unique_ptr<Op> make_mask_combine(std::string l, std::vector<int> in, std::vector<int> out, bool any) {
  return std::make_unique<MaskCombineOp>(std::move(l), std::move(in), std::move(out), any);
}
std::unique_ptr<Op> make_conv1d(std::string l, std::vector<int> in, std::vector<int> out, int64_t k, int64_t cin,
                                int64_t cout, const float* kernel, const float* bias, int64_t stride, int64_t dilation,
                                ConvPad pad, Act act) {
  return std::make_unique<Conv1DOp>(std::move(l), std::move(in), std::move(out), k, cin, cout, kernel, bias, stride,
                                    dilation, pad, act);
}
std::unique_ptr<Op> make_pool1d(std::string l, std::vector<int> in, std::vector<int> out, PoolKind kind, int64_t pool,
                                int64_t stride, bool same) {
  return std::make_unique<Pool1DOp>(std::move(l), std::move(in), std::move(out), kind, pool, stride, same);
}
std::unique_ptr<Op> make_global_pool1d(std::string l, std::vector<int> in, std::vector<int> out, PoolKind kind,
                                       bool keepdims) {
  return std::make_unique<GlobalPool1DOp>(std::move(l), std::move(in), std::move(out), kind, keepdims);
}
std::unique_ptr<Op> make_fold_time(std::string l, std::vector<int> in, std::vector<int> out) {
  return std::make_unique<FoldTimeOp>(std::move(l), std::move(in), std::move(out));
}
std::unique_ptr<Op> make_unfold_time(std::string l, std::vector<int> in, std::vector<int> out) {
  return std::make_unique<UnfoldTimeOp>(std::move(l), std::move(in), std::move(out));
}

}  // namespace pyrnn
