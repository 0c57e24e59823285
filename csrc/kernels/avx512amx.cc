// The int8 GEMM of the avx512 tier with AMX (Sapphire Rapids and later): blocks of 16
// quantized rows multiply whole 16-group slices of the int8 panels in tile registers
// (TDPBUSD, 16 x 16 x 64 multiply-adds per instruction); the rows left over go through
// the AVX512_VNNI tiles. The panels already have AMX's B layout (16 columns x 4 bytes
// per group of 4 rows, 64-byte rows), and the dot products are exact integers ending in
// the same dequant() as every other int8 kernel, so results are identical to theirs.
// Used where the CPU has AMX-INT8 and Linux grants the tile state (pyrnn/isa.h
// int8_kernel). Only this file gets -mamx-tile -mamx-int8 (see CMakeLists.txt).
#define PYRNN_ISA_NS avx512amx
#define PYRNN_VBYTES 64
#include "kernels/qgemm.h"

// pyrnn asks only Linux for the tile state (pyrnn/platform.h), so elsewhere this kernel is
// never chosen; on Windows it is not even compiled with tiles: GCC's <amxtileintrin.h>
// passes the stride as `long`, 32 bits there, which the assembler rejects as an index.
#if defined(_WIN32)
namespace pyrnn {
extern const QGemmFn kQGemm_avx512amx = &avx512amx::qgemm;
}  // namespace pyrnn
#else

namespace pyrnn {
namespace avx512amx {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// Tiles 0-3: C, 16 rows x 16 int32 (four panels); 4: A, 16 rows x 16 groups (64 bytes);
// 5: B, 16 groups x 64 bytes; 6, 7: A and B for the last rem < 16 groups of K.
void configure(int rem) {
  TileConfig cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.palette = 1;
  for (int t = 0; t < 6; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  if (rem) {
    cfg.rows[6] = 16;
    cfg.colsb[6] = static_cast<uint16_t>(rem * 4);
    cfg.rows[7] = static_cast<uint8_t>(rem);
    cfg.colsb[7] = 64;
  }
  _tile_loadconfig(&cfg);
}

// One slice of K: A's rows into tile a, then for each of the np panels (stride ps) its B
// slice into tile b and C tile j (+)= A x B. Tile numbers are immediates, hence a macro.
#define PYRNN_AMX_SLICE(a, b, Aptr, Bptr)  \
  do {                                     \
    _tile_loadd(a, Aptr, ldq);             \
    _tile_loadd(b, Bptr, 64);              \
    _tile_dpbusd(0, a, b);                 \
    if (np > 1) {                          \
      _tile_loadd(b, (Bptr) + ps, 64);     \
      _tile_dpbusd(1, a, b);               \
    }                                      \
    if (np > 2) {                          \
      _tile_loadd(b, (Bptr) + 2 * ps, 64); \
      _tile_dpbusd(2, a, b);               \
    }                                      \
    if (np > 3) {                          \
      _tile_loadd(b, (Bptr) + 3 * ps, 64); \
      _tile_dpbusd(3, a, b);               \
    }                                      \
  } while (0)

template <bool ACC>
void amx_rows(int64_t M, int64_t npan, int64_t Kq, const uint8_t* Aq, int64_t ldq, const float* sa, const int8_t* P,
              const float* sw, const int32_t* comp, float* C, int64_t ldc) {
  const int64_t full = Kq / 16, rem = Kq % 16, ps = Kq * 64;
  const int64_t Mb = M / 16 * 16;
  if (Mb) {
    configure(static_cast<int>(rem));
    alignas(64) int32_t out[4][16 * 16];
    for (int64_t m0 = 0; m0 < Mb; m0 += 16) {
      const uint8_t* A = Aq + m0 * ldq;
      for (int64_t p0 = 0; p0 < npan; p0 += 4) {
        const int np = npan - p0 < 4 ? static_cast<int>(npan - p0) : 4;
        const int8_t* B = P + p0 * ps;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int64_t c = 0; c < full; ++c) PYRNN_AMX_SLICE(4, 5, A + c * 64, B + c * 1024);
        if (rem) PYRNN_AMX_SLICE(6, 7, A + full * 64, B + full * 1024);
        _tile_stored(0, out[0], 64);
        if (np > 1) _tile_stored(1, out[1], 64);
        if (np > 2) _tile_stored(2, out[2], 64);
        if (np > 3) _tile_stored(3, out[3], 64);
        for (int j = 0; j < np; ++j) {
          const int64_t c0 = (p0 + j) * kPanel;
          for (int r = 0; r < 16; ++r)
            dequant<ACC>(C + (m0 + r) * ldc + c0, ldi(out[j] + r * 16), comp + c0, sa[m0 + r], sw + c0);
        }
      }
    }
    _tile_release();
  }
  if (Mb < M) qgemm_rows<ACC>(M - Mb, npan, Kq, Aq + Mb * ldq, ldq, sa + Mb, P, sw, comp, C + Mb * ldc, ldc);
}
#undef PYRNN_AMX_SLICE

void qgemm_amx(bool acc, int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda, const int8_t* P,
               const float* sw, const int32_t* comp, float* C, int64_t ldc, bool weights_outer, uint8_t* work) {
  qgemm_with(acc ? &amx_rows<true> : &amx_rows<false>, M, npan, K, A, lda, P, sw, comp, C, ldc, weights_outer, work);
}

}  // namespace
}  // namespace avx512amx

extern const QGemmFn kQGemm_avx512amx = &avx512amx::qgemm_amx;
}  // namespace pyrnn
#endif  // !_WIN32
