// Per-core data cache sizes of this machine, read once (ISA-neutral).
#pragma once

#include <cstdint>

namespace pyrnn {

// Bytes of the L1 data cache and of the L2 cache of one core: Linux sysfs
// (/sys/devices/system/cpu/cpu0/cache), else 32 KiB and 1 MiB.
int64_t cache_l1d_bytes();
int64_t cache_l2_bytes();

}  // namespace pyrnn
