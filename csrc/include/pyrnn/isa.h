// Instruction-set tiers: which kernels were compiled, which this CPU can run, and
// which one calls use. Chosen once at import (PYRNN_ISA overrides the choice).
#pragma once

#include <string>
#include <vector>

#include "pyrnn/kernels.h"

namespace pyrnn {

enum class Isa { Generic = 0, Avx2 = 1, Avx512 = 2 };

const char* isa_name(Isa isa);
bool isa_compiled(Isa isa);   // built into this binary
bool isa_supported(Isa isa);  // compiled and runnable on this CPU
std::vector<std::string> compiled_isas();
std::vector<std::string> supported_isas();
std::string cpu_features();  // what CPUID/XGETBV reported, for show_config

// Parses a tier name; throws std::invalid_argument naming the valid choices, or
// std::runtime_error when the tier is valid but not compiled or not supported here.
Isa parse_isa(const std::string& name);
void set_isa(Isa isa);
Isa current_isa();
const KernelTable& current_kernels();

// The int8 GEMM for the current tier: its VNNI build where the CPU has the tier's VNNI
// (AVX512_VNNI for avx512, AVX-VNNI for avx2) unless set_vnni_enabled(false) (tests),
// else the tier's own. vnni_available: whether the current tier has one.
QGemmFn int8_kernel();
bool vnni_available();
void set_vnni_enabled(bool on);
// AMX-INT8 for int8 on the avx512 tier where the CPU and OS allow it (amx_available), unless
// set_amx_enabled(false) (tests; the VNNI kernel then runs, with the same results).
bool amx_available();
void set_amx_enabled(bool on);
// Rows an int8 layer's time loop should give each GEMM at least (RunArgs::qrows): AMX's
// tiles take 16 rows at a time; 0 for kernels without such a need.
constexpr int64_t kAmxBlockRows = 32;
int64_t int8_block_rows();
// How a compute type runs on the current tier, for show_config.
std::string compute_type_info(ComputeType ct);

// Picks the best supported tier, or the one PYRNN_ISA names (errors as parse_isa).
void init_isa_from_env();

}  // namespace pyrnn
