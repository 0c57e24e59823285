// SimpleRNN / LSTM / GRU on a GPU (CUDA builds only).
//
// A call runs: the input projection for a chunk of timesteps as one tiled GEMM
// (bias + x @ W for every row and step of the chunk), then one launch per timestep
// that computes h @ U for every (row, unit) with all of the unit's gates fused and
// finishes the cell update, masks and outputs in the same thread. Weights stay on the
// device in Keras's layout (gate-major columns, which makes the U reads coalesced
// across the units of a warp); sums are plain fp32 FMAs in k order, no TF32.

#ifndef PYRNN_WITH_CUDA
#define PYRNN_WITH_CUDA 1  // this file is the CUDA build (a standalone nvcc -c compiles it too)
#endif

#include <cuda_runtime.h>

#include <cmath>
#include <mutex>
#include <stdexcept>
#include <string>

#include "pyrnn/cuda.h"

namespace pyrnn {
namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}
#define PYRNN_CK(expr) check((expr), #expr)

// Elementwise activations: the gate pair in float, the rest as the CPU kernels' scalar
// definitions.
#define PYRNN_ACT_FN __device__ inline
#include "pyrnn/act_scalar.inc"
#undef PYRNN_ACT_FN

__device__ float act(Act a, float x) {
  switch (a) {
    case Act::Tanh: return tanhf(x);
    case Act::Sigmoid: return 1.0f / (1.0f + expf(-x));
    default: return act_scalar(a, x);  // row-wise kinds are refused at construction
  }
}

// Z[b, tt, :] = bias + x[b, t0 + tt, :] @ W for tt < n: a 16x16 shared-memory tiled GEMM
// over the B*n rows of a chunk (row m = b*n + tt).
constexpr int kTile = 16;

__global__ void input_projection(int64_t B, int64_t n, int64_t T, int64_t t0, int64_t D, int64_t N,
                                 const float* __restrict__ x, const float* __restrict__ W,
                                 const float* __restrict__ bias, float* __restrict__ Z) {
  __shared__ float xs[kTile][kTile + 1];
  __shared__ float ws[kTile][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t m = (int64_t)blockIdx.y * kTile + ty;
  const int64_t col = (int64_t)blockIdx.x * kTile + tx;
  const int64_t M = B * n;
  const float* xrow = nullptr;
  if (m < M) xrow = x + ((m / n) * T + t0 + m % n) * D;
  float acc = 0.0f;
  for (int64_t k0 = 0; k0 < D; k0 += kTile) {
    xs[ty][tx] = (xrow && k0 + tx < D) ? xrow[k0 + tx] : 0.0f;
    ws[ty][tx] = (k0 + ty < D && col < N) ? W[(k0 + ty) * N + col] : 0.0f;
    __syncthreads();
    const int kn = (D - k0) < kTile ? (int)(D - k0) : kTile;
    for (int k = 0; k < kn; ++k) acc = fmaf(xs[ty][k], ws[k][tx], acc);
    __syncthreads();
  }
  if (m < M && col < N) Z[m * N + col] = (bias ? bias[col] : 0.0f) + acc;
}

struct Step {
  int64_t B, T, H, n, tlo;  // chunk: Z holds steps t in [tlo, tlo + n)
  int64_t t, k;             // time index read, processing index written
  CellKind kind;
  Act act, rec;
  bool reset_after, return_sequences, zero_output_for_mask;
  int phase;            // GRU reset_after=False: 0 gates z and r, 1 the candidate
  const float* U;       // (H, G*H)
  const float* bh;      // GRU reset_after: recurrent bias (G*H) or null
  const float* Z;       // (B, n, G*H)
  const uint8_t* mask;  // (B, T) or null
  const float* h;       // (B, H) state in
  const float* c;
  float* hn;  // (B, H) state out
  float* cn;
  float* prev;   // (B, H) last valid output (masks)
  float* zsave;  // GRU reset_after=False: z gate, then r*h in rh
  float* rh;
  float* y;  // (B, T, H) or null
};

// One timestep: block (x: units, y: batch row). The row's h (or r*h) is staged in shared
// memory when it fits; each thread owns one unit and all its gates.
// a[g] = h . U[:, col + g*H] for N gates side by side: one FMA chain per gate over k in
// order, all N chains sharing each h[k] load.
template <int N>
__device__ inline void gate_dots(const float* hv, const float* U, int64_t H, int64_t GH, int64_t col, float (&a)[N]) {
#pragma unroll
  for (int g = 0; g < N; ++g) a[g] = 0.0f;
  for (int64_t k = 0; k < H; ++k) {
    const float hk = hv[k];
    const float* u = U + k * GH + col;
#pragma unroll
    for (int g = 0; g < N; ++g) a[g] = fmaf(hk, u[g * H], a[g]);
  }
}

__global__ void step_kernel(Step s) {
  extern __shared__ float hs[];
  const int64_t b = blockIdx.y, H = s.H;
  const int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  const float* hsrc = (s.phase == 1 ? s.rh : s.h) + b * H;
  const bool staged = H * (int64_t)sizeof(float) <= 48 * 1024;
  if (staged) {
    for (int64_t i = threadIdx.x; i < H; i += blockDim.x) hs[i] = hsrc[i];
    __syncthreads();
  }
  const float* hv = staged ? hs : hsrc;
  if (j >= H) return;
  const int G = gate_count(s.kind);
  const int64_t GH = G * H;
  const float* z = s.Z + (b * s.n + (s.t - s.tlo)) * GH;
  const int64_t o = b * H + j;
  const bool valid = !s.mask || s.mask[b * s.T + s.t];

  if (s.kind == CellKind::GRU && !s.reset_after && s.phase == 0) {
    float a[2];
    gate_dots(hv, s.U, H, GH, j, a);
    const float zg = act(s.rec, z[j] + a[0]);
    const float rg = act(s.rec, z[H + j] + a[1]);
    s.zsave[o] = zg;
    s.rh[o] = rg * s.h[o];
    return;
  }

  float hnew = 0.0f, cnew = 0.0f;
  if (valid) {
    switch (s.kind) {
      case CellKind::SimpleRNN: {
        float a[1];
        gate_dots(hv, s.U, H, GH, j, a);
        hnew = act(s.act, z[j] + a[0]);
        break;
      }
      case CellKind::LSTM: {
        float a[4];
        gate_dots(hv, s.U, H, GH, j, a);
        const float i = act(s.rec, z[j] + a[0]);
        const float f = act(s.rec, z[H + j] + a[1]);
        const float g = act(s.act, z[2 * H + j] + a[2]);
        const float og = act(s.rec, z[3 * H + j] + a[3]);
        cnew = f * s.c[o] + i * g;
        hnew = og * act(s.act, cnew);
        break;
      }
      case CellKind::GRU: {
        if (s.reset_after) {
          float a[3];
          gate_dots(hv, s.U, H, GH, j, a);
          if (s.bh) {
            a[0] += s.bh[j];
            a[1] += s.bh[H + j];
            a[2] += s.bh[2 * H + j];
          }
          const float zg = act(s.rec, z[j] + a[0]);
          const float rg = act(s.rec, z[H + j] + a[1]);
          const float hh = act(s.act, z[2 * H + j] + rg * a[2]);
          hnew = zg * s.h[o] + (1.0f - zg) * hh;
        } else {  // phase 1: the candidate from (r*h) @ U_h
          float a[1];
          gate_dots(hv, s.U, H, GH, 2 * H + j, a);
          const float hh = act(s.act, z[2 * H + j] + a[0]);
          const float zg = s.zsave[o];
          hnew = zg * s.h[o] + (1.0f - zg) * hh;
        }
        break;
      }
      case CellKind::kCount:  // never stored: codes are checked where they cross from Python
        break;
    }
  } else {  // Keras's masked-step rule: the states carry over
    hnew = s.h[o];
    if (s.kind == CellKind::LSTM) cnew = s.c[o];
  }
  s.hn[o] = hnew;
  if (s.kind == CellKind::LSTM) s.cn[o] = cnew;
  if (s.y) {
    float* yo = s.y + (b * s.T + s.k) * H + j;
    *yo = valid ? hnew : (s.zero_output_for_mask ? 0.0f : s.prev[o]);
  }
  if (s.mask && valid) s.prev[o] = hnew;
}

// Device memory that only grows, reused across calls.
struct DeviceBuffer {
  float* p = nullptr;
  size_t bytes = 0;
  float* get(size_t need) {
    if (need > bytes) {
      if (p) cudaFree(p);
      p = nullptr;
      bytes = 0;
      PYRNN_CK(cudaMalloc(&p, need));
      bytes = need;
    }
    return p;
  }
  ~DeviceBuffer() {
    if (p) cudaFree(p);
  }
};

struct DeviceGuard {
  int saved = -1;
  explicit DeviceGuard(int dev) {
    PYRNN_CK(cudaGetDevice(&saved));
    PYRNN_CK(cudaSetDevice(dev));
  }
  ~DeviceGuard() {
    if (saved >= 0) cudaSetDevice(saved);
  }
};

}  // namespace

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

std::string cuda_runtime_info() {
  int rt = 0, drv = 0, n = 0;
  cudaRuntimeGetVersion(&rt);
  cudaDriverGetVersion(&drv);
  auto ver = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
  std::string s = "CUDA runtime " + ver(rt) + ", driver " + (drv ? ver(drv) : std::string("none"));
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return s + ": no usable device (" + cudaGetErrorString(e) + ")";
  }
  s += ": " + std::to_string(n) + " device(s)";
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) == cudaSuccess)
      s += std::string(i ? ", " : " ") + p.name + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ")";
  }
  return s;
}

struct CudaRecurrentLayer::Impl {
  int G = 1;
  float* W = nullptr;   // (D, G*H)
  float* U = nullptr;   // (H, G*H)
  float* bx = nullptr;  // (G*H) or null
  float* bh = nullptr;  // GRU reset_after: (G*H) or null
  cudaStream_t stream = nullptr;
  std::mutex m;  // one call at a time per layer (the workspace is shared)
  DeviceBuffer x, z, mask, st, y;
  ~Impl() {
    for (float* p : {W, U, bx, bh})
      if (p) cudaFree(p);
    if (stream) cudaStreamDestroy(stream);
  }
};

CudaRecurrentLayer::CudaRecurrentLayer(const LayerOptions& opt, int64_t D, int64_t H, const float* kernel,
                                       const float* recurrent, const float* bias, int64_t bias_rows, int device)
    : opt_(opt), D_(D), H_(H), device_(device), impl_(new Impl) {
  if (D < 1 || H < 1) throw std::invalid_argument("input size and units must be >= 1");
  if (is_rowwise(opt.act) || is_rowwise(opt.rec_act))
    throw std::invalid_argument(
        "softmax-like (row-wise) activations inside a recurrent cell are not supported on CUDA");
  const int n = cuda_device_count();
  if (device < 0 || device >= n)
    throw std::invalid_argument("CUDA device " + std::to_string(device) + " does not exist (" + cuda_runtime_info() +
                                ")");
  DeviceGuard g(device);
  Impl& I = *impl_;
  I.G = gate_count(opt.kind);
  const int64_t GH = I.G * H;
  const bool gru_ra = opt.kind == CellKind::GRU && opt.reset_after;
  if (bias && bias_rows != (gru_ra ? 2 : 1)) throw std::invalid_argument("bias has the wrong number of rows");
  auto upload = [](float** dst, const float* src, int64_t count) {
    PYRNN_CK(cudaMalloc(dst, sizeof(float) * count));
    PYRNN_CK(cudaMemcpy(*dst, src, sizeof(float) * count, cudaMemcpyHostToDevice));
  };
  upload(&I.W, kernel, D * GH);
  upload(&I.U, recurrent, H * GH);
  if (bias) upload(&I.bx, bias, GH);
  if (bias && gru_ra) upload(&I.bh, bias + GH, GH);
  PYRNN_CK(cudaStreamCreateWithFlags(&I.stream, cudaStreamNonBlocking));
}

CudaRecurrentLayer::~CudaRecurrentLayer() = default;

void CudaRecurrentLayer::run_host(int64_t B, int64_t T, const float* x, const uint8_t* mask, const float* h0,
                                  const float* c0, const LayerOutputs& out) {
  if (B == 0) return;
  if (B < 0 || T < 1) throw std::invalid_argument("batch must be >= 0 and timesteps >= 1");
  std::lock_guard<std::mutex> lk(impl_->m);
  DeviceGuard g(device_);
  Impl& I = *impl_;
  const int64_t H = H_, D = D_, GH = I.G * H;
  const bool lstm = opt_.kind == CellKind::LSTM;
  const bool gru_rb = opt_.kind == CellKind::GRU && !opt_.reset_after;
  cudaStream_t st = I.stream;

  // Input projections for up to ~256 MB of pre-activations per chunk of timesteps.
  int64_t tc = (int64_t(64) << 20) / (B * GH);
  tc = tc < 1 ? 1 : (tc > T ? T : tc);

  float* dx = I.x.get(sizeof(float) * B * T * D);
  float* dz = I.z.get(sizeof(float) * B * tc * GH);
  // States: h, hn, c, cn, prev, zsave, rh (B*H each).
  float* ds = I.st.get(sizeof(float) * 7 * B * H);
  float *h = ds, *hn = ds + B * H, *c = ds + 2 * B * H, *cn = ds + 3 * B * H;
  float *prev = ds + 4 * B * H, *zsave = ds + 5 * B * H, *rh = ds + 6 * B * H;
  float* dy = opt_.return_sequences ? I.y.get(sizeof(float) * B * T * H) : nullptr;
  uint8_t* dm = nullptr;
  if (mask) dm = reinterpret_cast<uint8_t*>(I.mask.get(B * T));

  PYRNN_CK(cudaMemcpyAsync(dx, x, sizeof(float) * B * T * D, cudaMemcpyHostToDevice, st));
  if (mask) PYRNN_CK(cudaMemcpyAsync(dm, mask, B * T, cudaMemcpyHostToDevice, st));
  PYRNN_CK(cudaMemsetAsync(ds, 0, sizeof(float) * 7 * B * H, st));
  if (h0) PYRNN_CK(cudaMemcpyAsync(h, h0, sizeof(float) * B * H, cudaMemcpyHostToDevice, st));
  if (lstm && c0) PYRNN_CK(cudaMemcpyAsync(c, c0, sizeof(float) * B * H, cudaMemcpyHostToDevice, st));

  const int threads = H >= 256 ? 256 : (H >= 128 ? 128 : 64);
  const dim3 sgrid((unsigned)((H + threads - 1) / threads), (unsigned)B);
  const size_t shmem = H * sizeof(float) <= 48 * 1024 ? H * sizeof(float) : 0;
  for (int64_t k0 = 0; k0 < T; k0 += tc) {
    const int64_t n = (T - k0) < tc ? (T - k0) : tc;
    // Steps k0..k0+n-1 read times [tlo, tlo + n) (reversed for go_backwards).
    const int64_t tlo = opt_.go_backwards ? T - k0 - n : k0;
    const dim3 pgrid((unsigned)((GH + kTile - 1) / kTile), (unsigned)((B * n + kTile - 1) / kTile));
    input_projection<<<pgrid, dim3(kTile, kTile), 0, st>>>(B, n, T, tlo, D, GH, dx, I.W, I.bx, dz);
    PYRNN_CK(cudaGetLastError());
    for (int64_t kk = 0; kk < n; ++kk) {
      const int64_t k = k0 + kk;
      Step s{};
      s.B = B;
      s.T = T;
      s.H = H;
      s.n = n;
      s.tlo = tlo;
      s.k = k;
      s.t = opt_.go_backwards ? T - 1 - k : k;
      s.kind = opt_.kind;
      s.act = opt_.act;
      s.rec = opt_.rec_act;
      s.reset_after = opt_.reset_after;
      s.return_sequences = opt_.return_sequences;
      s.zero_output_for_mask = opt_.zero_output_for_mask;
      s.U = I.U;
      s.bh = I.bh;
      s.Z = dz;
      s.mask = dm;
      s.h = h;
      s.c = c;
      s.hn = hn;
      s.cn = cn;
      s.prev = prev;
      s.zsave = zsave;
      s.rh = rh;
      s.y = dy;
      if (gru_rb) {
        s.phase = 0;
        step_kernel<<<sgrid, threads, shmem, st>>>(s);
        PYRNN_CK(cudaGetLastError());
        s.phase = 1;
      }
      step_kernel<<<sgrid, threads, shmem, st>>>(s);
      PYRNN_CK(cudaGetLastError());
      float* t1 = h;
      h = hn;
      hn = t1;
      t1 = c;
      c = cn;
      cn = t1;
    }
  }
  const size_t hb = sizeof(float) * B * H;
  if (opt_.return_sequences)
    PYRNN_CK(cudaMemcpyAsync(out.y, dy, hb * T, cudaMemcpyDeviceToHost, st));
  else
    PYRNN_CK(cudaMemcpyAsync(out.y, mask ? prev : h, hb, cudaMemcpyDeviceToHost, st));
  PYRNN_CK(cudaMemcpyAsync(out.h, h, hb, cudaMemcpyDeviceToHost, st));
  if (lstm && out.c) PYRNN_CK(cudaMemcpyAsync(out.c, c, hb, cudaMemcpyDeviceToHost, st));
  if (out.prev) PYRNN_CK(cudaMemcpyAsync(out.prev, mask ? prev : h, hb, cudaMemcpyDeviceToHost, st));
  PYRNN_CK(cudaStreamSynchronize(st));
}

}  // namespace pyrnn
