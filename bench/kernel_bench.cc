// Micro-benchmark of one ISA tier's GEMM tiles against that tier's FMA peak, one core.
//
//   bench/kernel_bench.sh [avx2|avx512|generic] [-DPYRNN_TILE_MR=6 -DPYRNN_TILE_NP=1 ...]
//
// compiles kernels/entry.h for the tier (as CMake does, with that tier's flags) into a
// standalone binary and prints GFLOP/s for: the FMA peak (independent FMA chains on
// registers, no loads), the recurrent GEMM of one step (C[M, 16 npan] = A[M, K] @ panels)
// at sizes whose weights sit in L1, L2 and beyond L2, in the row-tile order (gemm) and the
// weights-outer order (gemm(..., weights_outer=true)). Min over repeats, so other jobs on the core inflate
// nothing but the spread. The PYRNN_TILE_* macros override the tier's tile constants
// (kernels/gemm.h) to compare tile shapes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/entry.h"

namespace k = pyrnn::PYRNN_ISA_NS;

static double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// N independent FMA chains on registers: the tier's FMA throughput.
template <int N>
__attribute__((noinline)) double fma_peak() {
  using vf = k::vf;
  vf acc[N];
  for (int i = 0; i < N; ++i) acc[i] = k::splat(1.0f + i * 1e-3f);
  const vf x = k::splat(0.999999f), y = k::splat(1e-7f);
  const int64_t iters = 20000000 / N;
  double best = 1e30;
  for (int rep = 0; rep < 7; ++rep) {
    const double t0 = now();
    for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 32
      for (int i = 0; i < N; ++i) acc[i] = acc[i] * x + y;
    }
    const double dt = now() - t0;
    best = dt < best ? dt : best;
  }
  float s = 0;
  for (int i = 0; i < N; ++i) s += acc[i][0];
  if (s == 12345.f) puts("");
  return 2.0 * k::VL * N * iters / best * 1e-9;
}

static float* alloc(int64_t n) {
  float* p = static_cast<float*>(aligned_alloc(64, ((n * 4 + 63) / 64) * 64));
  for (int64_t i = 0; i < n; ++i) p[i] = 0.001f * ((i * 7919) % 1000 - 500);
  return p;
}

// GFLOP/s of C[M, 16 npan] = A[M, K] @ P, best of `reps` timed batches.
static double gemm_rate(bool cols, int64_t M, int64_t npan, int64_t K, int reps = 9) {
  float* A = alloc(M * K);
  float* P = alloc(npan * K * pyrnn::kPanel);
  float* C = alloc(M * npan * pyrnn::kPanel);
  const double fl = 2.0 * M * K * npan * pyrnn::kPanel;
  int inner = static_cast<int>(2e8 / fl);
  inner = inner < 1 ? 1 : inner;
  double best = 1e30;
  k::FlushDenormals ftz;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    for (int i = 0; i < inner; ++i) {
      if (cols)
        k::gemm(false, M, npan, K, A, K, P, C, npan * pyrnn::kPanel, i & 1, true);
      else
        k::gemm(false, M, npan, K, A, K, P, C, npan * pyrnn::kPanel, i & 1);
    }
    const double dt = (now() - t0) / inner;
    best = dt < best ? dt : best;
  }
  free(A);
  free(P);
  free(C);
  return fl / best * 1e-9;
}

// "--h=64,256" / "--m=1,8" pick the sizes; "--nopeak" skips the peak.
static int parse_list(const char* s, int64_t* out) {
  int n = 0;
  while (*s && n < 16) {
    out[n++] = strtoll(s, const_cast<char**>(&s), 10);
    if (*s == ',') ++s;
  }
  return n;
}

int main(int argc, char** argv) {
  int64_t Hs[16] = {64, 256, 512, 1024}, Ms[16] = {1, 2, 4, 6, 8, 12, 16, 32, 64};
  int nh = 4, nm = 9;
  bool peak_on = true;
  for (int i = 1; i < argc; ++i) {
    if (!strncmp(argv[i], "--h=", 4)) nh = parse_list(argv[i] + 4, Hs);
    if (!strncmp(argv[i], "--m=", 4)) nm = parse_list(argv[i] + 4, Ms);
    if (!strcmp(argv[i], "--nopeak")) peak_on = false;
  }
  printf("tier %s (VL %d), tile %d rows x %d panels, 4-row %d, 2-row %d, 1-row %d, prefetch %d\n", PYRNN_ISA_NAME,
         k::VL, k::kMR, k::kNP, k::kNP4, k::kNP1, k::kNPW, k::kPrefetchK);
  const double peak = !peak_on ? 1.0 : k::VL >= 16 ? fma_peak<24>() : fma_peak<12>();
  printf("fma peak (one core): %.1f GFLOP/s\n", peak);
  // LSTM steps: K = H, 4H columns; U = 16 H^2 bytes.
  printf("%-6s %8s %4s %8s %8s %6s\n", "H", "U KiB", "M", "gemm", "cols", "%peak");
  for (int i = 0; i < nh; ++i) {
    const int64_t H = Hs[i];
    for (int j = 0; j < nm; ++j) {
      const int64_t M = Ms[j], npan = 4 * H / pyrnn::kPanel;
      const double g = gemm_rate(false, M, npan, H), w = gemm_rate(true, M, npan, H);
      const double b = g > w ? g : w;
      printf("%-6lld %8lld %4lld %8.1f %8.1f %5.0f%%\n", (long long)H, (long long)(16 * H * H / 1024), (long long)M, g,
             w, 100 * b / peak);
      fflush(stdout);
    }
  }
  return 0;
}
