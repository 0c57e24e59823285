// CPU feature detection and the kernel table in use.
//
// A tier is usable only if the CPU has the instructions *and* the OS saves the
// register state they need (XGETBV): AVX needs the YMM state enabled, AVX-512 the
// opmask and ZMM states. Checking CPUID bits alone would SIGILL on hypervisors and
// kernels that disable AVX-512.

#include "pyrnn/isa.h"

#include "pyrnn/platform.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

// MSVC's cl.exe: its intrinsics. clang-cl (the Windows wheels) takes the GCC/Clang branch:
// it has <cpuid.h> and GNU inline asm, and its _xgetbv wants the xsave target feature.
#if defined(_MSC_VER) && !defined(__clang__) && (defined(_M_X64) || defined(_M_IX86))
#include <immintrin.h>  // _xgetbv
#include <intrin.h>     // __cpuid, __cpuidex
#define PYRNN_X86 1
#define PYRNN_X86_MSVC 1
#elif defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)  // GCC, Clang, clang-cl, MinGW
#include <cpuid.h>
#define PYRNN_X86 1
#endif

namespace pyrnn {

extern const KernelTable kKernels_generic;
#ifdef PYRNN_HAVE_AVX2
extern const KernelTable kKernels_avx2;
#endif
#ifdef PYRNN_HAVE_AVX512
extern const KernelTable kKernels_avx512;
#endif
#ifdef PYRNN_HAVE_AVX512VNNI
extern const QGemmFn kQGemm_avx512vnni;
extern const QGemmFn kQGemm_avx2vnni;
extern const QGemmFn kQGemm_avx512amx;
#endif

namespace {

struct Features {
  bool avx2_fma = false;
  bool avx512 = false;  // F + DQ + BW + VL, with OS support for ZMM state
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
  bool avx_vnni = false;
  bool amx = false;  // AMX-TILE with AMX-INT8 and AMX-BF16, tile state enabled in XCR0 (int8 uses AMX-INT8)
};

#if defined(PYRNN_X86_MSVC)
unsigned long long xgetbv0() { return _xgetbv(0); }
// <cpuid.h>'s interface over the MSVC intrinsics: false when the leaf does not exist.
bool get_cpuid_count(unsigned leaf, unsigned sub, unsigned* a, unsigned* b, unsigned* c, unsigned* d) {
  int r[4];
  __cpuid(r, 0);
  if (static_cast<unsigned>(r[0]) < leaf) return false;
  __cpuidex(r, static_cast<int>(leaf), static_cast<int>(sub));
  *a = static_cast<unsigned>(r[0]), *b = static_cast<unsigned>(r[1]);
  *c = static_cast<unsigned>(r[2]), *d = static_cast<unsigned>(r[3]);
  return true;
}
bool get_cpuid(unsigned leaf, unsigned* a, unsigned* b, unsigned* c, unsigned* d) {
  return get_cpuid_count(leaf, 0, a, b, c, d);
}
#elif defined(PYRNN_X86)
unsigned long long xgetbv0() {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long)edx << 32) | eax;
}
bool get_cpuid(unsigned leaf, unsigned* a, unsigned* b, unsigned* c, unsigned* d) {
  return __get_cpuid(leaf, a, b, c, d);
}
bool get_cpuid_count(unsigned leaf, unsigned sub, unsigned* a, unsigned* b, unsigned* c, unsigned* d) {
  return __get_cpuid_count(leaf, sub, a, b, c, d);
}
#endif

Features detect() {
  Features f;
#ifdef PYRNN_X86
  unsigned a, b, c, d;
  if (!get_cpuid(1, &a, &b, &c, &d)) return f;
  const unsigned c1 = c;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12);
  if (!osxsave || !avx) return f;
  const unsigned long long xcr0 = xgetbv0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;
  if (!get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  const bool avx2 = b & (1u << 5);
  const bool f512 = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
  const bool f16c = c1 & (1u << 29);
  f.avx2_fma = ymm_state && avx2 && fma && f16c;  // the avx2 tier's 16-bit weights use F16C
  f.avx512 = f.avx2_fma && zmm_state && f512 && dq && bw && vl;
  f.avx512_vnni = f.avx512 && (c & (1u << 11));
  f.amx = f.avx512_vnni && (d & (1u << 22)) && (d & (1u << 24)) && (d & (1u << 25)) &&
          (xcr0 & 0x60000) == 0x60000;  // XTILECFG | XTILEDATA
  if (get_cpuid_count(7, 1, &a, &b, &c, &d)) {
    f.avx_vnni = f.avx2_fma && (a & (1u << 4));
    f.avx512_bf16 = f.avx512 && (a & (1u << 5));
  }
#endif
  return f;
}

const Features& features() {
  static const Features f = detect();
  return f;
}

const KernelTable* table(Isa isa) {
  switch (isa) {
    case Isa::Generic: return &kKernels_generic;
#ifdef PYRNN_HAVE_AVX2
    case Isa::Avx2: return &kKernels_avx2;
#endif
#ifdef PYRNN_HAVE_AVX512
    case Isa::Avx512: return &kKernels_avx512;
#endif
    default: return nullptr;
  }
}

std::atomic<int> g_isa{0};
std::atomic<bool> g_vnni{true};
std::atomic<bool> g_amx{true};

#ifdef PYRNN_HAVE_AVX512VNNI
// AMX needs the OS's permission, asked once, when int8 first wants it.
bool amx_usable() {
  static const bool ok = features().amx && request_amx_permission();
  return ok;
}
#endif

const Isa kAll[] = {Isa::Generic, Isa::Avx2, Isa::Avx512};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Generic: return "generic";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

bool isa_compiled(Isa isa) { return table(isa) != nullptr; }

bool isa_supported(Isa isa) {
  if (!isa_compiled(isa)) return false;
  switch (isa) {
    case Isa::Generic: return true;
    case Isa::Avx2: return features().avx2_fma;
    case Isa::Avx512: return features().avx512;
  }
  return false;
}

std::vector<std::string> compiled_isas() {
  std::vector<std::string> v;
  for (Isa i : kAll)
    if (isa_compiled(i)) v.emplace_back(isa_name(i));
  return v;
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> v;
  for (Isa i : kAll)
    if (isa_supported(i)) v.emplace_back(isa_name(i));
  return v;
}

std::string cpu_features() {
#if !defined(PYRNN_X86)
#if defined(__aarch64__) || defined(_M_ARM64)
  return "aarch64: ASIMD/NEON (baseline; the generic tier's 128-bit vectors are NEON code)";
#else
  return "not x86: the generic tier only";
#endif
#else
  std::string s;
  s += features().avx2_fma ? "avx2 fma" : "no-avx2";
  s += features().avx512 ? " avx512f/dq/bw/vl" : " no-avx512";
  if (features().avx512_vnni) s += " avx512_vnni";
  if (features().avx512_bf16) s += " avx512_bf16";
  if (features().avx_vnni) s += " avx_vnni";
  if (features().amx) s += " amx";
  return s;
#endif
}

Isa parse_isa(const std::string& name) {
  for (Isa i : kAll) {
    if (name != isa_name(i)) continue;
    if (!isa_compiled(i)) throw std::runtime_error("pyrnn: ISA tier '" + name + "' was not compiled into this build");
    if (!isa_supported(i))
      throw std::runtime_error("pyrnn: ISA tier '" + name + "' is not supported by this CPU (" + cpu_features() + ")");
    return i;
  }
  throw std::invalid_argument("pyrnn: unknown ISA tier '" + name + "'; expected one of generic, avx2, avx512");
}

void set_isa(Isa isa) {
  if (!isa_supported(isa)) parse_isa(isa_name(isa));  // throws the explanatory error
  g_isa.store(static_cast<int>(isa));
}

Isa current_isa() { return static_cast<Isa>(g_isa.load()); }

const KernelTable& current_kernels() { return *table(current_isa()); }

bool vnni_available() {
#ifdef PYRNN_HAVE_AVX512VNNI
  return current_isa() == Isa::Avx512 ? features().avx512_vnni : current_isa() == Isa::Avx2 && features().avx_vnni;
#else
  return false;
#endif
}

void set_vnni_enabled(bool on) { g_vnni.store(on); }
void set_amx_enabled(bool on) { g_amx.store(on); }
bool amx_available() {
#ifdef PYRNN_HAVE_AVX512VNNI
  return current_isa() == Isa::Avx512 && amx_usable();
#else
  return false;
#endif
}

QGemmFn int8_kernel() {
#ifdef PYRNN_HAVE_AVX512VNNI
  if (current_isa() == Isa::Avx512 && features().avx512_vnni && g_vnni.load())
    return g_amx.load() && amx_usable() ? kQGemm_avx512amx : kQGemm_avx512vnni;
  if (current_isa() == Isa::Avx2 && features().avx_vnni && g_vnni.load()) return kQGemm_avx2vnni;
#endif
  return current_kernels().qgemm;
}

int64_t int8_block_rows() {
#ifdef PYRNN_HAVE_AVX512VNNI
  if (int8_kernel() == kQGemm_avx512amx) return kAmxBlockRows;
#endif
  return 0;
}

std::string compute_type_info(ComputeType ct) {
  const Isa isa = current_isa();
  const std::string tier = isa_name(isa);
  switch (ct) {
    case ComputeType::Float32: return tier + ": float32 FMA (Keras-exact)";
    case ComputeType::BFloat16:
    case ComputeType::Float16: {
      const bool bf = ct == ComputeType::BFloat16;
      const char* widen = isa == Isa::Generic ? (bf ? "portable code" : "scalar conversion")
                          : isa == Isa::Avx2  ? (bf ? "vpshufb" : "F16C vcvtph2ps")
                                              : (bf ? "vpermw" : "vcvtph2ps zmm");
      return tier + (bf ? ": bfloat16" : ": float16") + " weights (kept widened when their float32 form fits the L2, " +
             "else 16-bit, widened in registers by " + widen + "), float32 arithmetic";
    }
    case ComputeType::Int8:
#ifdef PYRNN_HAVE_AVX512VNNI
      if (int8_kernel() == kQGemm_avx512amx)
        return tier +
               ": int8 dot products with AMX-INT8 tiles (TDPBUSD) for blocks of 16 rows, AVX512_VNNI for the rest";
#endif
      if (int8_kernel() != current_kernels().qgemm)
        return tier + (isa == Isa::Avx512 ? ": int8 dot products with AVX512_VNNI (vpdpbusd zmm)"
                                          : ": int8 dot products with AVX-VNNI (vpdpbusd ymm)");
      if (isa == Isa::Avx512) return tier + ": int8 dot products with vpmaddubsw + vpmaddwd (no AVX512_VNNI)";
      if (isa == Isa::Avx2) return tier + ": int8 dot products with vpmaddubsw + vpmaddwd (no AVX-VNNI)";
      return tier + ": int8 dot products in portable integer code";
    case ComputeType::kCount: break;
  }
  return tier;
}

void init_isa_from_env() {
  const char* env = std::getenv("PYRNN_ISA");
  if (env && *env) {
    set_isa(parse_isa(env));
    return;
  }
  Isa best = Isa::Generic;
  for (Isa i : kAll)
    if (isa_supported(i)) best = i;
  set_isa(best);
}

}  // namespace pyrnn
