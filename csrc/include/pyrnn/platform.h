// What differs between the operating systems and compilers pyrnn builds on (Linux,
// macOS, Windows; GCC, Clang, clang-cl): process id, memory size, one core's L2 size,
// aligned blocks, thread placement, and a description of the build for show_config. Everything
// else in csrc/ is plain C++17.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pyrnn {

int64_t process_id();             // changes in a forked child (Windows has no fork)
int64_t physical_memory_bytes();  // installed RAM, or 64 GiB when the OS does not say
int64_t cache_l2_bytes();         // one core's L2, read once (Linux sysfs), else 1 MiB
// Asks the OS to let this process use AMX tile data (Linux: arch_prctl
// ARCH_REQ_XCOMP_PERM); false where it refuses or where pyrnn does not ask (other OSes).
bool request_amx_permission();
// Thread placement, for the thread pool (Linux; elsewhere: -1, 0 and false, and the
// pool leaves placement to the OS).
int64_t current_thread_os_id();                        // the kernel's id of the calling thread
int current_cpu();                                     // the CPU the calling thread is on now
int allowed_cpus(int* cpus, int max);                  // the calling thread's CPUs: how many, up to max
bool pin_thread_to_cpu(int64_t tid, int cpu);          // restricts thread tid to that one CPU
void* aligned_malloc(size_t alignment, size_t bytes);  // bytes a multiple of alignment
void aligned_free(void* p);                            // for aligned_malloc's blocks only
const char* build_compiler();  // e.g. "GCC 12.2.0", "Clang 18.1.8", "clang-cl 18.1.8 (MSVC 19.40)"
const char* build_target();    // the OS and CPU the binary was compiled for, e.g. "linux-x86_64"

}  // namespace pyrnn
