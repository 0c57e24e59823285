// Gate math and the cell update of one timestep (one ISA tier; see kernels/entry.h).
#pragma once

#include "kernels/activation.h"

namespace pyrnn {
namespace PYRNN_ISA_NS {
namespace {

// Gate math. Packed gate columns (see LayerDesc): full 16-unit blocks hold their G gate
// panels side by side; the last H % 16 units sit after them gate by gate, unpadded.

// Column of gate g, unit j, in the packed layout of G gates over H units.
inline int64_t gidx(int G, int64_t H, int g, int64_t j) {
  const int64_t nf = H / kPanel;
  if (j < nf * kPanel) return (j >> 4) * G * kPanel + g * kPanel + (j & 15);
  return nf * G * kPanel + g * (H - nf * kPanel) + (j - nf * kPanel);
}

// 16 units: gate g's pre-activations at zb + 16g (bias and x@W included); hb likewise
// holds GRU's h@U (reset_after: all 3 gates plus the recurrent bias; else z and r); u2:
// GRU reset_after=False, (r*h)@U_h. The state pointers point at these 16 units. Padded
// units compute harmless finite values that are never read (GEMMs use K = H, and
// outputs copy H units). STD: Keras's default tanh/sigmoid pair, inlined.
template <bool STD>
PYRNN_INLINE void block(const LayerDesc& L, int phase, const float* zb, const float* hb, const float* u2,
                        const float* hprev, const float* cprev, float* hn, float* cn, float* zsave, float* rh) {
  auto act = [&](vf x) { return STD ? vtanh(x) : act_vec(L.act, x); };
  auto rec = [&](vf x) { return STD ? vsigmoid(x) : act_vec(L.rec_act, x); };
  for (int v = 0; v < PV; ++v) {
    const int o = v * VL;
    switch (L.kind) {
      case CellKind::SimpleRNN: st(hn + o, act(ld(zb + o))); break;
      case CellKind::LSTM: {
        const vf i = rec(ld(zb + o));
        const vf f = rec(ld(zb + kPanel + o));
        const vf g = act(ld(zb + 2 * kPanel + o));
        const vf og = rec(ld(zb + 3 * kPanel + o));
        const vf c = f * ld(cprev + o) + i * g;
        st(cn + o, c);
        st(hn + o, og * act(c));
        break;
      }
      case CellKind::GRU:
        if (L.reset_after) {
          const vf zg = rec(ld(zb + o) + ld(hb + o));
          const vf rg = rec(ld(zb + kPanel + o) + ld(hb + kPanel + o));
          const vf hh = act(ld(zb + 2 * kPanel + o) + rg * ld(hb + 2 * kPanel + o));
          st(hn + o, zg * ld(hprev + o) + (1.0f - zg) * hh);
        } else if (phase == 0) {
          const vf zg = rec(ld(zb + o) + ld(hb + o));
          const vf rg = rec(ld(zb + kPanel + o) + ld(hb + kPanel + o));
          st(zsave + o, zg);
          st(rh + o, rg * ld(hprev + o));
        } else {
          const vf hh = act(ld(zb + 2 * kPanel + o) + ld(u2 + o));
          const vf zg = ld(zsave + o);
          st(hn + o, zg * ld(hprev + o) + (1.0f - zg) * hh);
        }
        break;
      case CellKind::kCount:  // never stored: codes are checked where they cross from Python
        break;
    }
  }
}

// The tail's G gate runs of r values, spread into G zero-padded 16-float panels.
inline void spread_tail(float* dst, const float* src, int G, int64_t r) {
  memset(dst, 0, sizeof(float) * G * kPanel);
  for (int g = 0; g < G; ++g) memcpy(dst + g * kPanel, src + g * r, sizeof(float) * r);
}

// A tail whose G runs of r values fit one panel (G*r <= 16: LSTM(50)'s 2 units are 8
// values) is activated as that one panel, each activation once for all its gates, and
// the gates are then read back shifted to the units' lanes: 3 activation panels instead
// of 5 for LSTM, 2 instead of 3 for GRU. Lanes from r on are never read; the cell state,
// GRU's h and r*h are zeroed there, and so is LSTM's h with AVX-512 (elsewhere it is an
// output gate times act(0)).
template <bool STD>
PYRNN_INLINE void tail_small(const LayerDesc& L, int phase, int64_t r, const float* zt, const float* ht,
                             const float* u2, const float* hprev, const float* cprev, float* hn, float* cn,
                             float* zsave, float* rh) {
  auto act = [&](vf x) { return STD ? vtanh(x) : act_vec(L.act, x); };
  auto rec = [&](vf x) { return STD ? vsigmoid(x) : act_vec(L.rec_act, x); };
#if defined(__AVX512F__) && PYRNN_VBYTES == 64
  // One vector per panel: the gates are shifted onto the units' lanes in registers
  // (a two-source permute with zeros beyond lane 15), not through a store and an
  // overlapping reload, which the store-to-load forwarding cannot serve.
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const int ri = static_cast<int>(r);
  auto sh = [&](vf v, int g) {  // lanes g*r.. of v down to lane 0
    return (vf)_mm512_permutex2var_ps((__m512)v, _mm512_add_epi32(lane, _mm512_set1_epi32(g * ri)),
                                      _mm512_setzero_ps());
  };
  const __mmask16 keep = static_cast<__mmask16>((1u << ri) - 1);
  auto kz = [keep](vf v) { return (vf)_mm512_maskz_mov_ps(keep, (__m512)v); };
  const vf zv = ld(zt);
  if (L.kind == CellKind::LSTM) {
    const vf a = rec(zv), b = act(zv);
    const vf cv = kz(sh(a, 1) * ld(cprev) + a * sh(b, 2));
    st(cn, cv);
    st(hn, kz(sh(a, 3) * act(cv)));
  } else if (L.reset_after) {
    const vf hv = ld(ht), a = rec(zv + hv);
    const vf hh = act(sh(zv, 2) + sh(a, 1) * sh(hv, 2));
    st(hn, kz(a * ld(hprev) + (1.0f - a) * hh));
  } else if (phase == 0) {
    const vf a = rec(zv + ld(ht));
    st(zsave, a);
    st(rh, kz(sh(a, 1) * ld(hprev)));
  } else {
    const vf zg = ld(zsave);
    const vf hh = act(sh(zv, 2) + ld(u2));
    st(hn, kz(zg * ld(hprev) + (1.0f - zg) * hh));
  }
#else
  alignas(64) static const int32_t kLane[kPanel] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  // a: rec(.) of the panel; b: act(.) (LSTM) or the x-side candidate values (GRU);
  // c: GRU's h-side candidate values. Each followed by zeros, read at offsets <= 3r < 16.
  alignas(64) float a[2 * kPanel], b[2 * kPanel], c[2 * kPanel];
  const bool lstm = L.kind == CellKind::LSTM, ra = L.reset_after;
  for (int v = 0; v < PV; ++v) {
    const int o = v * VL;
    st(a + kPanel + o, vf{});
    st(b + kPanel + o, vf{});
    st(c + kPanel + o, vf{});
    const vf zv = ld(zt + o);
    if (lstm) {
      st(a + o, rec(zv));
      st(b + o, act(zv));
    } else {
      if (ra || phase == 0) st(a + o, rec(zv + ld(ht + o)));  // z and r gates
      st(b + o, zv);
      st(c + o, ra ? ld(ht + o) : vf{});
    }
  }
  for (int v = 0; v < PV; ++v) {
    const int o = v * VL;
    vi lane;
    memcpy(&lane, kLane + o, sizeof(lane));
    const vi keep = lane < static_cast<int32_t>(r);
    if (lstm) {
      const vf cv = sel(keep, ld(a + r + o) * ld(cprev + o) + ld(a + o) * ld(b + 2 * r + o), vf{});
      st(cn + o, cv);
      st(hn + o, ld(a + 3 * r + o) * act(cv));
    } else if (ra) {
      const vf zg = ld(a + o);
      const vf hh = act(ld(b + 2 * r + o) + ld(a + r + o) * ld(c + 2 * r + o));
      st(hn + o, sel(keep, zg * ld(hprev + o) + (1.0f - zg) * hh, vf{}));
    } else if (phase == 0) {
      st(zsave + o, ld(a + o));
      st(rh + o, sel(keep, ld(a + r + o) * ld(hprev + o), vf{}));
    } else {
      const vf zg = ld(zsave + o);
      const vf hh = act(ld(b + 2 * r + o) + ld(u2 + o));
      st(hn + o, sel(keep, zg * ld(hprev + o) + (1.0f - zg) * hh, vf{}));
    }
  }
#endif
}

// Fused path: every activation is elementwise, so each block is finished while its
// gate values are in registers.
// Blocks [b0, b1) of 16 units, then the H % 16 tail when `tail`.
template <bool STD>
void step_fused_t(const LayerDesc& L, int phase, const float* z, const float* hz, const float* u2, const float* hprev,
                  const float* cprev, float* hn, float* cn, float* zsave, float* rh, int64_t b0, int64_t b1,
                  bool tail) {
  const int G = L.G, hg = L.kind == CellKind::GRU ? (L.reset_after ? 3 : 2) : 0;
  const int64_t nf = L.H / kPanel, r = L.H - nf * kPanel;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t o = b * kPanel;
    block<STD>(L, phase, z + b * G * kPanel, hz + b * hg * kPanel, u2 + o, hprev + o, cprev + o, hn + o, cn + o,
               zsave + o, rh + o);
  }
  if (tail && r) {
    const int64_t o = nf * kPanel;
    const float* zt = z + nf * G * kPanel;
    const float* ht = hz + nf * hg * kPanel;
    if (G == 1) {  // one gate: the tail already is a zero-padded panel
      block<STD>(L, phase, zt, ht, u2 + o, hprev + o, cprev + o, hn + o, cn + o, zsave + o, rh + o);
    } else if (G * r <= kPanel) {
      tail_small<STD>(L, phase, r, zt, ht, u2 + o, hprev + o, cprev + o, hn + o, cn + o, zsave + o, rh + o);
    } else {
      alignas(64) float zs[4 * kPanel], hs[3 * kPanel];
      spread_tail(zs, zt, G, r);
      if (hg) spread_tail(hs, ht, hg, r);
      block<STD>(L, phase, zs, hs, u2 + o, hprev + o, cprev + o, hn + o, cn + o, zsave + o, rh + o);
    }
  }
}

inline void step_fused(const LayerDesc& L, int phase, const float* z, const float* hz, const float* u2,
                       const float* hprev, const float* cprev, float* hn, float* cn, float* zsave, float* rh,
                       int64_t b0, int64_t b1, bool tail) {
  if (L.act == Act::Tanh && L.rec_act == Act::Sigmoid)
    step_fused_t<true>(L, phase, z, hz, u2, hprev, cprev, hn, cn, zsave, rh, b0, b1, tail);
  else
    step_fused_t<false>(L, phase, z, hz, u2, hprev, cprev, hn, cn, zsave, rh, b0, b1, tail);
}

// Staged path, for row-wise activations (softmax & co. over the units of a gate):
// each gate's pre-activations are gathered into a contiguous row, activated as a
// whole, then combined. `s` has room for 8*Hp floats.
void step_staged(const LayerDesc& L, int phase, const float* z, const float* hz, const float* u2, const float* hprev,
                 const float* cprev, float* hn, float* cn, float* zsave, float* rh, float* s) {
  const int G = L.G;
  const int64_t H = L.H, Hp = L.Hp;
  float* a = s;  // each stage row has 2*Hp floats (sparsemax sorts after the row)
  float* b = s + 2 * Hp;
  float* c = s + 4 * Hp;
  float* d = s + 6 * Hp;
  switch (L.kind) {
    case CellKind::SimpleRNN:
      for (int64_t j = 0; j < H; ++j) a[j] = z[gidx(G, H, 0, j)];
      act_rows(L.act, a, 1, H, H);
      for (int64_t j = 0; j < H; ++j) hn[j] = a[j];
      break;
    case CellKind::LSTM:
      for (int64_t j = 0; j < H; ++j) {
        a[j] = z[gidx(G, H, 0, j)];
        b[j] = z[gidx(G, H, 1, j)];
        c[j] = z[gidx(G, H, 2, j)];
        d[j] = z[gidx(G, H, 3, j)];
      }
      act_rows(L.rec_act, a, 1, H, H);
      act_rows(L.rec_act, b, 1, H, H);
      act_rows(L.act, c, 1, H, H);
      act_rows(L.rec_act, d, 1, H, H);
      for (int64_t j = 0; j < H; ++j) {
        cn[j] = b[j] * cprev[j] + a[j] * c[j];
        c[j] = cn[j];
      }
      act_rows(L.act, c, 1, H, H);
      for (int64_t j = 0; j < H; ++j) hn[j] = d[j] * c[j];
      break;
    case CellKind::GRU: {
      const int hg = L.reset_after ? 3 : 2;
      if (L.reset_after || phase == 0) {
        for (int64_t j = 0; j < H; ++j) {
          a[j] = z[gidx(G, H, 0, j)] + hz[gidx(hg, H, 0, j)];
          b[j] = z[gidx(G, H, 1, j)] + hz[gidx(hg, H, 1, j)];
        }
        act_rows(L.rec_act, a, 1, H, H);
        act_rows(L.rec_act, b, 1, H, H);
        if (!L.reset_after) {
          for (int64_t j = 0; j < H; ++j) {
            zsave[j] = a[j];
            rh[j] = b[j] * hprev[j];
          }
          break;
        }
        for (int64_t j = 0; j < H; ++j) c[j] = z[gidx(G, H, 2, j)] + b[j] * hz[gidx(hg, H, 2, j)];
      } else {
        for (int64_t j = 0; j < H; ++j) {
          a[j] = zsave[j];
          c[j] = z[gidx(G, H, 2, j)] + u2[j];
        }
      }
      act_rows(L.act, c, 1, H, H);
      for (int64_t j = 0; j < H; ++j) hn[j] = a[j] * hprev[j] + (1.0f - a[j]) * c[j];
      break;
    }
    case CellKind::kCount: break;
  }
}

}  // namespace
}  // namespace PYRNN_ISA_NS
}  // namespace pyrnn
