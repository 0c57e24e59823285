// Plain-data contract between the ISA-neutral layer code and the per-ISA kernels.
//
// This header is included by every per-ISA translation unit, which is compiled with
// different -m flags. It must therefore hold only types and constants (pyrnn/codes.h's
// functions have internal linkage): an inline function defined here would be emitted
// once per ISA file and the linker could keep the AVX-512 copy for callers on the
// generic path (a SIGILL on older CPUs).
#pragma once

#include <cstdint>

#include "pyrnn/codes.h"

namespace pyrnn {

// Weight panels are 16 floats (64 bytes, one cache line) wide on every ISA, so packed
// weights do not depend on the ISA that runs them: a tier is a choice made per call.
constexpr int kPanel = 16;

// Inputs with at most this many features are projected inside each timestep rather
// than for a chunk of timesteps ahead of the recurrence.
constexpr int kFoldInputs = 16;
// LSTM inputs wider than that are stacked too (see LayerDesc::XS) for a thread's block of
// at least kStackedMinRows rows when the stacked panels take at most kStackedMaxBytes:
// one GEMM per step then beats projecting the inputs ahead of the steps, while with fewer
// rows the projection over many timesteps reuses its weights better. SimpleRNN keeps the
// projection. An LSTM whose recurrent weights exceed one core's L2 is stacked at every
// size (RecurrentLayer). (Measurements: bench/notes/tuning.md.)
constexpr int kStackedMinRows = 4;
constexpr int64_t kStackedMaxBytes = int64_t(512) << 10;

// A recurrent layer, packed for the kernels. Gate columns are laid out for the gate math: each full block of 16
// units holds its G gate panels side by side (panel hb*G + g), so a block's gate
// pre-activations sit next to each other in the GEMM output and the gate math runs on
// whole aligned vectors. The last H % 16 units follow, gate by gate without padding
// (G runs of H % 16 columns), rounded up to a whole panel: no gate is padded to 16
// units, which keeps the weights small (LSTM(50): 13 panels instead of 16).
// One weight matrix's panels in a reduced compute type (LayerDesc::ct): 16-bit panels
// (bfloat16, float16) in the float layout, element for element; or int8 panels (see
// kernels/qgemm.h) with per-column scales and compensations.
struct LowpPanels {
  const void* p;
  const float* scale;   // int8: per packed column
  const int32_t* comp;  // int8: per packed column, 64 x the column's weight sum
};

// int8 activations are coded q + kQZeroPoint, q in [-63, 63] (kernels/qgemm.h); packing
// stores kQZeroPoint x each column's weight sum to take that offset back out.
constexpr int kQZeroPoint = 64;

// Bytes of an int8 GEMM's work area for M rows of K values: row scales, then the rows
// quantized (kernels/qgemm.h).
static constexpr int64_t qgemm_work_bytes(int64_t M, int64_t K) { return M * 4 + 64 + M * ((K + 3) / 4 * 4); }

struct LayerDesc {
  CellKind kind;
  int32_t D;         // input features
  int32_t H;         // units
  int32_t Hp;        // units rounded up to kPanel: the stride of per-unit state rows
  int32_t G;         // gates: 1 SimpleRNN, 4 LSTM, 3 GRU
  int32_t Z;         // packed columns of the G gates (a multiple of kPanel)
  int32_t Zh;        // GRU: packed columns of h@U (reset_after: Z; else the z and r gates); 0 otherwise
  bool reset_after;  // GRU only
  Act act;
  Act rec_act;
  // Stacked (LSTM and SimpleRNN with at most kFoldInputs features; LSTM with more, for
  // a thread's block of kStackedMinRows rows and up when the stacked panels are small,
  // and always when its recurrent weights exceed the L2; see RecurrentLayer): U's panels
  // have XS = 1 + D rows of [bias; kernel] above the H recurrent rows, and the kernels
  // keep [1, x_t, h] in one row, so a step's whole pre-activation is one GEMM of
  // K = XS + H (the same FMA chain, bias first, as bias + x@W + h@U: the results are the
  // same either way). 0 otherwise.
  int32_t XS;
  const float* W;       // Z/16 panels of D x 16
  const float* bias_x;  // Z floats, laid out like the panels (zeros without bias)
  const float* U;       // recurrent panels (Z/16, or Zh/16 for GRU, of (XS + H) x 16)
  const float* U2;      // GRU reset_after=False: the candidate part (Hp/16 panels of H x 16)
  const float* bias_h;  // GRU reset_after=True: recurrent bias, Z floats
  // Reduced compute types: W, U and U2 in that type (lw, lu, lu2), XS = 0; the float
  // pointers above are then unused (biases stay float32).
  ComputeType ct;
  LowpPanels lw, lu, lu2;
};

// C[M, npan*16] (+)= A[M, K] @ P for int8 panels (kernels/qgemm.h), A quantized per row
// into `work` (qgemm_work_bytes(M, K) bytes, 64-byte aligned).
using QGemmFn = void (*)(bool acc, int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda, const int8_t* P,
                         const float* scale, const int32_t* comp, float* C, int64_t ldc, bool weights_outer,
                         uint8_t* work);

struct RunArgs {
  int64_t B;
  int64_t T;
  const float* x;       // (B, T, D), C-contiguous
  const uint8_t* mask;  // (B, T) or nullptr
  const float* h0;      // (B, H) or nullptr (zeros)
  const float* c0;      // (B, H) or nullptr (LSTM only)
  const float* prev0;   // (B, H) last valid output before this call (masks), or nullptr (zeros)
  bool go_backwards;
  bool return_sequences;
  bool zero_output_for_mask;
  float* y;          // (B, T, H) with return_sequences, else (B, H)
  float* h_out;      // (B, H)
  float* c_out;      // (B, H) or nullptr
  float* prev_out;   // (B, H) last valid output after this call, or nullptr (for streaming)
  float* scratch;    // 64-byte aligned, scratch_floats(...) floats
  int64_t tchunk;    // timesteps whose input projection is computed at once
  int64_t l2_bytes;  // one core's L2 (pyrnn/platform.h); 0: 1 MiB
  // A team of `team` threads runs the same call, each on its own share of the units
  // (blocks of 16; the last member also takes the H % 16 tail): its gate columns of
  // every GEMM, its gate math and its outputs, with sync(sync_ctx) as the barrier
  // between steps. All members get the same arguments except `rank`; scratch is shared.
  // int8 layers: the int8 GEMM to use (the tier's own, or a VNNI build of it), and
  // qwork_bytes of 64-byte aligned work area, split evenly between the team's members.
  QGemmFn qgemm;
  int64_t qrows;  // rows per block at least (AMX tiles), 0: the float32 blocking
  uint8_t* qwork;
  int64_t qwork_bytes;
  int team;  // 1: alone (then sync is unused)
  int rank;
  void (*sync)(void* ctx, int rank);
  void* sync_ctx;
};

using RunFn = void (*)(const LayerDesc&, const RunArgs&);
using ActFn = void (*)(Act, float* data, int64_t rows, int64_t n, int64_t stride);
// C[M, npan*16] (+)= A[M, K] (row stride lda) @ P, P being npan packed panels of K x 16
// (pack_panels in pyrnn/packing.h, with one gate). Each output is one FMA chain over k in
// order, so a row's result does not depend on M or on the other rows.
using GemmFn = void (*)(bool acc, int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda, const float* P,
                        float* C, int64_t ldc);

struct KernelTable {
  const char* name;
  RunFn run;
  ActFn activation;  // the kernels' own activation on rows of n values
  GemmFn gemm;       // dense layers and convolutions of the model graph
  QGemmFn qgemm;     // int8 layers
};

}  // namespace pyrnn
