// Weight packing into the kernels' panel layout (ISA-neutral: packed weights do not depend
// on the tier that runs them).

#include "pyrnn/packing.h"

#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace pyrnn {

int64_t gate_cols(int64_t H, int G) {
  const int64_t nf = H / kPanel;
  return nf * G * kPanel + round_up(G * (H - nf * kPanel), kPanel);
}

namespace {

// Column of gate g, unit j (kernels/cell.h's gidx; a copy, since nothing compiled per ISA may be shared).
int64_t gate_col(int G, int64_t H, int g, int64_t j) {
  const int64_t nf = H / kPanel;
  if (j < nf * kPanel) return (j / kPanel) * G * kPanel + g * kPanel + j % kPanel;
  return nf * G * kPanel + g * (H - nf * kPanel) + (j - nf * kPanel);
}

}  // namespace

AlignedBuffer pack_panels(const float* m, int64_t K, int64_t H, int G, int g0, int ng) {
  AlignedBuffer out(gate_cols(H, ng) * K);  // zeroed
  float* o = out.data();
  std::vector<int64_t> dst(static_cast<size_t>(ng * H));  // where source column g*H + j lands in row 0
  for (int g = 0; g < ng; ++g)
    for (int64_t j = 0; j < H; ++j) {
      const int64_t col = gate_col(ng, H, g, j);
      dst[g * H + j] = (col / kPanel) * K * kPanel + col % kPanel;
    }
  for (int64_t k = 0; k < K; ++k) {  // source rows in order
    const float* row = m + k * G * H + g0 * H;
    for (int64_t c = 0; c < ng * H; ++c) o[dst[c] + k * kPanel] = row[c];
  }
  return out;
}

AlignedBuffer pack_bias(const float* b, int64_t H, int G) {
  AlignedBuffer out(gate_cols(H, G));
  if (b)
    for (int g = 0; g < G; ++g)
      for (int64_t j = 0; j < H; ++j) out.data()[gate_col(G, H, g, j)] = b[g * H + j];
  return out;
}

uint16_t float_to_bfloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // NaN stays a quiet NaN
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

uint16_t float_to_half(float f, bool* overflow) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u));
  if (ax >= 0x477ff000u) {  // 65520 and up round to infinity
    *overflow = true;
    return static_cast<uint16_t>(sign | 0x7c00u);
  }
  if (ax < 0x38800000u) {  // below 2^-14: a subnormal half, in units of 2^-24 (exact scaling)
    float a;
    std::memcpy(&a, &ax, 4);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));
  }
  uint32_t h = (ax - 0x38000000u) >> 13;  // rebias 127 -> 15, keep 10 mantissa bits
  const uint32_t rest = ax & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry moves into the exponent as it should
  return static_cast<uint16_t>(sign | h);
}

namespace {

[[noreturn]] void throw_half_overflow(float v) {
  std::ostringstream s;
  s << "float16 cannot hold the weight value " << v << " (largest finite float16: 65504); use "
    << "compute_type='bfloat16', which has float32's range";
  throw std::invalid_argument(s.str());
}

float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  float f;
  if (e == 0) {
    f = std::ldexp(static_cast<float>(m), -24);
    return sign ? -f : f;
  }
  const uint32_t bits = e == 31 ? (sign | 0x7f800000u | (m << 13)) : (sign | ((e + 112) << 23) | (m << 13));
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

std::vector<float> round_weights(ComputeType ct, const float* m, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (ct == ComputeType::BFloat16) {
      const uint32_t bits = static_cast<uint32_t>(float_to_bfloat16(m[i])) << 16;
      std::memcpy(&out[i], &bits, 4);
    } else {
      bool overflow = false;
      const uint16_t h = float_to_half(m[i], &overflow);
      if (overflow) throw_half_overflow(m[i]);
      out[i] = half_bits_to_float(h);
    }
  }
  return out;
}

LowpPanels LowpWeights::view() const {
  return LowpPanels{data.data(), scale.size() ? scale.data() : nullptr,
                    comp.size() ? reinterpret_cast<const int32_t*>(comp.data()) : nullptr};
}

LowpWeights pack_panels_lowp(ComputeType ct, const float* m, int64_t K, int64_t H, int G, int g0, int ng) {
  const AlignedBuffer f = pack_panels(m, K, H, G, g0, ng);
  const int64_t cols = gate_cols(H, ng), n = cols * K;
  const float* src = f.data();
  LowpWeights out;
  auto where = [&](int64_t i) {  // the Keras (row, column) of packed element i, for messages
    const int64_t p = i / (K * kPanel), k = i / kPanel % K;
    std::ostringstream s;
    s << "row " << k << " of packed column " << p * kPanel + i % kPanel;
    return s.str();
  };
  switch (ct) {
    case ComputeType::BFloat16:
    case ComputeType::Float16: {
      out.bytes = n * 2;
      out.data = AlignedBuffer((n + 1) / 2);
      uint16_t* d = reinterpret_cast<uint16_t*>(out.data.data());
      for (int64_t i = 0; i < n; ++i) {
        if (ct == ComputeType::BFloat16) {
          d[i] = float_to_bfloat16(src[i]);
          continue;
        }
        bool overflow = false;
        d[i] = float_to_half(src[i], &overflow);
        if (overflow) throw_half_overflow(src[i]);
      }
      break;
    }
    case ComputeType::Int8: {
      const int64_t Kq = (K + 3) / 4, npan = cols / kPanel;
      out.bytes = npan * Kq * 64;
      out.data = AlignedBuffer(out.bytes / 4);  // zeroed: the padding rows are zero weights
      out.scale = AlignedBuffer(cols);
      out.comp = AlignedBuffer(cols);
      int8_t* d = reinterpret_cast<int8_t*>(out.data.data());
      int32_t* comp = reinterpret_cast<int32_t*>(out.comp.data());
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t p = c / kPanel, j = c % kPanel;
        const float* col = src + p * K * kPanel + j;
        float amax = 0.0f;
        for (int64_t k = 0; k < K; ++k) {
          const float w = col[k * kPanel];
          if (!std::isfinite(w))
            throw std::invalid_argument("int8 cannot quantize the non-finite weight at " +
                                        where(p * K * kPanel + k * kPanel + j));
          amax = std::fabs(w) > amax ? std::fabs(w) : amax;
        }
        const float scale = amax / 127.0f;
        int32_t sum = 0;
        for (int64_t k = 0; amax > 0.0f && k < K; ++k) {
          float q = std::nearbyint(col[k * kPanel] / scale);
          q = q > 127.0f ? 127.0f : (q < -127.0f ? -127.0f : q);
          d[p * Kq * 64 + (k / 4) * 64 + j * 4 + k % 4] = static_cast<int8_t>(q);
          sum += static_cast<int32_t>(q);
        }
        out.scale.data()[c] = scale;
        comp[c] = kQZeroPoint * sum;
      }
      break;
    }
    default: throw std::invalid_argument("pack_panels_lowp: not a reduced compute type");
  }
  return out;
}

}  // namespace pyrnn
