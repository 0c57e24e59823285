// The recurrence over a whole sequence: one layer, one call (one ISA tier; see
// kernels/entry.h).
#pragma once

#include "kernels/cell.h"
#include "kernels/gemm.h"
#include "kernels/qgemm.h"

namespace pyrnn {
namespace PYRNN_ISA_NS {
namespace {

// Flush denormals inside the kernel and give the caller its floating-point mode back.
struct FlushDenormals {
#ifdef PYRNN_X86
  unsigned saved;
  FlushDenormals() : saved(_mm_getcsr()) { _mm_setcsr(saved | 0x8040u); }  // FTZ | DAZ
  ~FlushDenormals() { _mm_setcsr(saved); }
#else
  FlushDenormals() {}  // nothing to do (not x86); user-provided, so `FlushDenormals ftz;` is not "unused"
#endif
};

inline void copy_row(float* dst, const float* src, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

}  // namespace

// One recurrent layer over the whole sequence.
//
// Each timestep runs in blocks of rows small enough that their gate pre-activations stay
// in L1 from the GEMMs through the gate math and the outputs. Inputs of at most
// kFoldInputs features are projected inside the step: for LSTM and SimpleRNN as part of
// the step's one GEMM (LayerDesc::XS: each h row is preceded by [1, x_t]), for GRU as one
// more short GEMM on the block. Wider inputs are projected for a chunk of timesteps at
// once, before the recurrence, unless the caller passes stacked panels (XS > 0) for them
// too.
//
// In a team (RunArgs::team > 1) each member computes only its own units' gate columns
// and gate math, so its share of the weights stays in its own core's caches; the
// members meet at a barrier once per step (twice for GRU reset_after=False) and share
// every buffer. Per element the arithmetic is the one-thread arithmetic.
void run(const LayerDesc& L, const RunArgs& a) {
  FlushDenormals ftz;
  const int64_t B = a.B, T = a.T, D = L.D, H = L.H, Hp = L.Hp;
  const int64_t ldz = L.Z, ldh = L.Zh;
  const bool fold = D <= kFoldInputs || L.XS;  // inputs projected inside each step
  const int64_t tc = fold ? 1 : (a.tchunk < 1 ? 1 : (a.tchunk > T ? T : a.tchunk));
  const bool lstm = L.kind == CellKind::LSTM, gru = L.kind == CellKind::GRU;
  const bool staged = is_rowwise(L.act) || is_rowwise(L.rec_act);
  const int hg = gru ? (L.reset_after ? 3 : 2) : 0;
  // h rows: [pad, 1, x_t (D), h (Hp)] when stacked, h starting on a panel boundary.
  const int64_t xs = L.XS, hoff = (xs + kPanel - 1) / kPanel * kPanel, lds = hoff + Hp;
  const int64_t ku = xs + H;  // rows of U's panels

  // This member's share: full unit blocks [b0, b1), and the tail if it has the last
  // block; its columns of a G-gate layout are panels [p0(G), p0(G) + np(G)).
  // The tail counts as one more block when splitting.
  const int team = a.team < 1 ? 1 : a.team, rank = team == 1 ? 0 : a.rank;
  const int64_t nf = H / kPanel, nblk = nf + (H % kPanel ? 1 : 0);
  const int64_t bb0 = nblk * rank / team, bb1 = nblk * (rank + 1) / team;
  const int64_t b0 = bb0 < nf ? bb0 : nf, b1 = bb1 < nf ? bb1 : nf;
  const bool mine_tail = bb1 == nblk;
  auto p0 = [&](int g) { return b0 * g; };
  auto np = [&](int g, int64_t cols) { return (b1 - b0) * g + (mine_tail ? cols / kPanel - nf * g : 0); };
  const int64_t zp0 = p0(L.G), znp = np(L.G, ldz);
  const int64_t hp0 = p0(hg), hnp = gru ? np(hg, ldh) : 0;
  const int64_t up0 = p0(1), unp = np(1, Hp);
  // Rows per block: about 16 KB of gate pre-activations, which stay in L1 from the GEMM
  // through the gate math, in whole row tiles. When this member's recurrent weights do
  // not fit half its L2 they would stream from memory once per block, so blocks then
  // take up to half the L2 of pre-activations and the GEMM runs weights-outer
  // (gemm's weights_outer): each group of panels is read once per block for all its rows.
  const int64_t l2 = a.l2_bytes > 0 ? a.l2_bytes : int64_t(1) << 20;
  const int64_t wbytes = L.ct == ComputeType::Float32 ? 4 : L.ct == ComputeType::Int8 ? 1 : 2;
  const int64_t ubytes = (gru ? hnp * H + (L.reset_after ? 0 : unp * H) : znp * ku) * kPanel * wbytes;
  const bool big = ubytes > l2 / 2;
  // A block's pre-activations are this member's columns of its rows (in a team, 1/team
  // of each row).
  const int64_t mcols = (znp > hnp ? znp : hnp) * kPanel;
  int64_t rb = (big ? l2 / 2 / (4 * mcols) : 4096 / ldz) / kMR * kMR;
  if (rb < a.qrows) rb = a.qrows;  // int8 on AMX: whole 16-row tiles
  rb = rb < kMR ? kMR : (rb > B ? B : rb);
  const int64_t u0 = b0 * kPanel, u1 = mine_tail ? Hp : b1 * kPanel;  // state columns
  const int64_t o1 = u1 < H ? u1 : H;                                 // output units [u0, o1)
  auto sync = [&] {
    if (team > 1) a.sync(a.sync_ctx, rank);
  };
  // C (+)= A @ panels [p, p + np) of a weight matrix of K rows, in the layer's compute
  // type: lp holds the reduced type's panels, or nothing when this matrix is float32 (f32).
  // bias: C = bias (columns [p, p + np), one row for every row of C) + A @ panels, the
  // same numbers as copying the bias into each row of C and accumulating.
  const int64_t qper = a.qwork ? a.qwork_bytes / team / 64 * 64 : 0;
  uint8_t* qwork = a.qwork ? a.qwork + rank * qper : nullptr;
  auto mm = [&](bool acc, int64_t M, int64_t p, int64_t np, int64_t K, const float* A, int64_t lda, const float* f32,
                const LowpPanels& lp, float* C, int64_t ldc, bool rv, bool outer, const float* bias = nullptr) {
    if (bias) acc = true;
    switch (lp.p ? L.ct : ComputeType::Float32) {
      case ComputeType::BFloat16:
        gemm_w<WBF16>(acc, M, np, K, A, lda, static_cast<const uint16_t*>(lp.p) + p * K * kPanel, C, ldc, rv, outer,
                      bias);
        break;
      case ComputeType::Float16:
        gemm_w<WF16>(acc, M, np, K, A, lda, static_cast<const uint16_t*>(lp.p) + p * K * kPanel, C, ldc, rv, outer,
                     bias);
        break;
      case ComputeType::Int8:
        for (int64_t r = 0; bias && r < M; ++r) copy_row(C + r * ldc, bias, np * kPanel);
        a.qgemm(acc, M, np, K, A, lda, static_cast<const int8_t*>(lp.p) + p * qrow_bytes(K) * kPanel,
                lp.scale + p * kPanel, lp.comp + p * kPanel, C, ldc, outer, qwork);
        break;
      default: gemm(acc, M, np, K, A, lda, f32 + p * K * kPanel, C, ldc, rv, outer, bias); break;
    }
  };
  // Columns [c0, c0 + n) of a row: this member's part of a packed layout.
  auto copy_cols = [](float* dst, const float* src, int64_t c0, int64_t n) { copy_row(dst + c0, src + c0, n); };

  float* s = a.scratch;
  float* xw = s;
  s += tc * B * ldz;
  float* hc = s;
  s += B * lds;
  float* hnx = s;
  s += B * lds;
  float* cc = s;
  s += B * Hp;
  float* cnx = s;
  s += B * Hp;
  float* hz = s;
  s += B * ldh;
  float* u2 = s;
  s += B * Hp;
  float* zsave = s;
  s += B * Hp;
  float* rh = s;
  s += B * Hp;
  float* prev = s;
  s += B * Hp;
  float* stage = s;
  auto hrow = [&](float* buf, int64_t b) { return buf + b * lds + hoff; };
  // Stacked: x at timestep index k (processing order) into the rows' [1, x] prefix.
  auto put_x = [&](float* buf, int64_t r0, int64_t nb, int64_t k) {
    const int64_t t = a.go_backwards ? T - 1 - k : k;
    for (int64_t b = r0; b < r0 + nb; ++b) {
      float* dst = hrow(buf, b) - D;
      const float* src = a.x + (b * T + t) * D;
      if (D == 1)
        dst[0] = src[0];  // the common case, without a memcpy call per row
      else
        copy_row(dst, src, D);
    }
  };

  if (rank == 0) {
    memset(hc, 0, sizeof(float) * 2 * B * (lds + Hp));  // hc, hnx, cc, cnx
    memset(u2, 0, sizeof(float) * 4 * B * Hp);          // u2, zsave, rh, prev
    for (int64_t b = 0; b < B; ++b) {
      if (xs) hrow(hc, b)[-xs] = hrow(hnx, b)[-xs] = 1.0f;
      if (a.h0) copy_row(hrow(hc, b), a.h0 + b * H, H);
      if (lstm && a.c0) copy_row(cc + b * Hp, a.c0 + b * H, H);
      if (a.prev0) copy_row(prev + b * Hp, a.prev0 + b * H, H);
    }
    if (xs) put_x(hc, 0, B, 0);
  }
  sync();

  for (int64_t k0 = 0; k0 < T; k0 += tc) {
    const int64_t n = (T - k0) < tc ? (T - k0) : tc;
    if (!fold) {
      // Input projection for steps k0..k0+n-1 (processing order), layout [step][b][Z].
      const float* bx = L.bias_x + zp0 * kPanel;
      if (B >= n) {
        for (int64_t kk = 0; kk < n; ++kk) {
          const int64_t k = k0 + kk, t = a.go_backwards ? T - 1 - k : k;
          mm(true, B, zp0, znp, D, a.x + t * D, T * D, L.W, L.lw, xw + kk * B * ldz + zp0 * kPanel, ldz, false, false,
             bx);
        }
      } else {
        for (int64_t b = 0; b < B; ++b) {
          const int64_t t = a.go_backwards ? T - 1 - k0 : k0;
          const int64_t lda = a.go_backwards ? -D : D;
          mm(true, n, zp0, znp, D, a.x + (b * T + t) * D, lda, L.W, L.lw, xw + b * ldz + zp0 * kPanel, B * ldz, false,
             false, bx);
        }
      }
    }

    for (int64_t kk = 0; kk < n; ++kk) {
      const int64_t k = k0 + kk, t = a.go_backwards ? T - 1 - k : k;
      const bool rev = k & 1;  // alternate the weight streaming order between steps
      for (int64_t r0 = 0; r0 < B; r0 += rb) {
        const int64_t nb = (B - r0) < rb ? (B - r0) : rb;
        float* z = fold ? xw : xw + (kk * B + r0) * ldz;
        if (fold && !xs)
          mm(true, nb, zp0, znp, D, a.x + (r0 * T + t) * D, T * D, L.W, L.lw, z + zp0 * kPanel, ldz, rev, false,
             L.bias_x + zp0 * kPanel);
        float* hcb = hrow(hc, r0);
        float* hzb = hz + r0 * ldh;
        float* u2b = u2 + r0 * Hp;
        float* rhb = rh + r0 * Hp;
        // Recurrent projection for the block's rows (stacked: the whole pre-activation).
        if (!gru) {
          mm(!xs, nb, zp0, znp, ku, hcb - xs, lds, L.U, L.lu, z + zp0 * kPanel, ldz, rev, big);
        } else {
          mm(false, nb, hp0, hnp, H, hcb, lds, L.U, L.lu, hzb + hp0 * kPanel, ldh, rev, big,
             L.reset_after ? L.bias_h + hp0 * kPanel : nullptr);
        }
        const int phases = (gru && !L.reset_after) ? 2 : 1;
        for (int ph = 0; ph < phases; ++ph) {
          if (ph == 1) {  // candidate: (r * h) @ U_h, which needs every member's r * h
            sync();
            mm(false, nb, up0, unp, H, rhb, Hp, L.U2, L.lu2, u2b + up0 * kPanel, Hp, rev, big);
          }
          for (int64_t b = 0; b < nb; ++b) {
            const int64_t o = (r0 + b) * Hp;
            float* hp = hrow(hc, r0 + b);
            float* hn = hrow(hnx, r0 + b);
            if (staged)  // only ever alone: row-wise activations need the whole gate
              step_staged(L, ph, z + b * ldz, hzb + b * ldh, u2 + o, hp, cc + o, hn, cnx + o, zsave + o, rh + o, stage);
            else
              step_fused(L, ph, z + b * ldz, hzb + b * ldh, u2 + o, hp, cc + o, hn, cnx + o, zsave + o, rh + o, b0, b1,
                         mine_tail);
          }
        }
        // Keras's masked-step rule: a masked sample keeps its states; its output repeats
        // the last valid output (zeros before the first one) or is zero.
        for (int64_t b = r0; b < r0 + nb; ++b) {
          const bool valid = !a.mask || a.mask[b * T + t];
          float* hn_b = hrow(hnx, b);
          if (!valid) {
            copy_cols(hn_b, hrow(hc, b), u0, u1 - u0);
            if (lstm) copy_cols(cnx + b * Hp, cc + b * Hp, u0, u1 - u0);
          }
          if (a.return_sequences && o1 > u0) {
            float* yo = a.y + (b * T + k) * H;
            if (valid)
              copy_cols(yo, hn_b, u0, o1 - u0);
            else if (a.zero_output_for_mask)
              memset(yo + u0, 0, sizeof(float) * (o1 - u0));
            else
              copy_cols(yo, prev + b * Hp, u0, o1 - u0);
          }
          if (a.mask && valid && o1 > u0) copy_cols(prev + b * Hp, hn_b, u0, o1 - u0);
        }
        if (xs && rank == 0 && k + 1 < T) put_x(hnx, r0, nb, k + 1);  // read after the barrier
      }
      sync();  // the next step reads every member's h
      float* tmp = hc;
      hc = hnx;
      hnx = tmp;
      tmp = cc;
      cc = cnx;
      cnx = tmp;
    }
  }

  if (rank == 0)
    for (int64_t b = 0; b < B; ++b) {
      const float* last = a.mask ? prev + b * Hp : hrow(hc, b);  // the last valid output
      if (!a.return_sequences) copy_row(a.y + b * H, last, H);
      copy_row(a.h_out + b * H, hrow(hc, b), H);
      if (lstm && a.c_out) copy_row(a.c_out + b * H, cc + b * Hp, H);
      if (a.prev_out) copy_row(a.prev_out + b * H, last, H);
    }
}

}  // namespace PYRNN_ISA_NS
}  // namespace pyrnn
