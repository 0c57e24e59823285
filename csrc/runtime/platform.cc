// The operating-system-specific pieces (see pyrnn/platform.h). One #if per OS, nothing
// POSIX outside the POSIX branches.

#include "pyrnn/platform.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <malloc.h>   // _aligned_malloc
#include <process.h>  // _getpid
#include <windows.h>  // GlobalMemoryStatusEx
#else
#include <unistd.h>  // getpid, sysconf
#if defined(__linux__)
#include <sched.h>        // sched_getcpu, sched_{get,set}affinity (GNU)
#include <sys/syscall.h>  // SYS_gettid, SYS_arch_prctl
#endif
#if defined(__APPLE__)
#include <sys/sysctl.h>  // sysctlbyname
#include <sys/types.h>
#endif
#endif

namespace pyrnn {

int64_t process_id() {
#if defined(_WIN32)
  return static_cast<int64_t>(_getpid());
#else
  return static_cast<int64_t>(getpid());
#endif
}

int64_t physical_memory_bytes() {
#if defined(_WIN32)
  MEMORYSTATUSEX st;
  st.dwLength = sizeof st;
  if (GlobalMemoryStatusEx(&st) && st.ullTotalPhys > 0) return static_cast<int64_t>(st.ullTotalPhys);
#elif defined(__APPLE__)
  uint64_t bytes = 0;
  size_t len = sizeof bytes;
  if (sysctlbyname("hw.memsize", &bytes, &len, nullptr, 0) == 0 && bytes > 0) return static_cast<int64_t>(bytes);
#elif defined(_SC_PHYS_PAGES) && defined(_SC_PAGE_SIZE)
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) return (int64_t)pages * (int64_t)page;
#endif
  return int64_t(64) << 30;
}

namespace {

// One core's L2, from sysfs on Linux (/sys/devices/system/cpu/cpu0/cache); 1 MiB elsewhere.
int64_t read_l2_bytes() {
  int64_t l2 = int64_t(1) << 20;
#if defined(__linux__)
  for (int i = 0; i < 8; ++i) {
    char path[96], level[16] = {0}, type[32] = {0}, size[32] = {0};
    auto read = [&](const char* name, char* buf, int n) {
      std::snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/%s", i, name);
      FILE* f = std::fopen(path, "r");
      if (!f) return false;
      const bool ok = std::fgets(buf, n, f) != nullptr;
      std::fclose(f);
      return ok;
    };
    if (!read("level", level, sizeof level) || !read("type", type, sizeof type) || !read("size", size, sizeof size))
      continue;
    char* end = nullptr;
    int64_t bytes = std::strtoll(size, &end, 10);
    if (end && (*end == 'K' || *end == 'k')) bytes <<= 10;
    if (end && (*end == 'M' || *end == 'm')) bytes <<= 20;
    if (bytes < (int64_t(4) << 10) || bytes > (int64_t(1) << 30)) continue;  // implausible: keep the default
    if (std::atoi(level) == 2 && std::strncmp(type, "Instruction", 11) != 0) l2 = bytes;
  }
#endif
  return l2;
}

}  // namespace

int64_t cache_l2_bytes() {
  static const int64_t bytes = read_l2_bytes();
  return bytes;
}

void* aligned_malloc(size_t alignment, size_t bytes) {
#if defined(_WIN32)
  return _aligned_malloc(bytes, alignment);  // C11 aligned_alloc does not exist in the Windows CRT
#elif defined(__APPLE__)
  void* p = nullptr;  // aligned_alloc needs macOS 10.15; posix_memalign is everywhere
  return posix_memalign(&p, alignment, bytes) == 0 ? p : nullptr;
#else
  return std::aligned_alloc(alignment, bytes);
#endif
}

void aligned_free(void* p) {
#if defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

#define PYRNN_STR2(x) #x
#define PYRNN_STR(x) PYRNN_STR2(x)

const char* build_compiler() {
#if defined(__clang__) && defined(_MSC_VER)
  return "clang-cl " __clang_version__ " (MSVC " PYRNN_STR(_MSC_VER) ")";
#elif defined(__clang__)
  return "Clang " __clang_version__;
#elif defined(__GNUC__)
  return "GCC " __VERSION__;
#elif defined(_MSC_VER)
  return "MSVC " PYRNN_STR(_MSC_FULL_VER);
#else
  return "unknown compiler";
#endif
}

const char* build_target() {
#if defined(_WIN32)
#define PYRNN_OS "windows"
#elif defined(__APPLE__)
#define PYRNN_OS "macos"
#elif defined(__linux__)
#define PYRNN_OS "linux"
#else
#define PYRNN_OS "unknown-os"
#endif
#if defined(__x86_64__) || defined(_M_X64)
#define PYRNN_ARCH "x86_64"
#elif defined(__aarch64__) || defined(_M_ARM64)
#define PYRNN_ARCH "aarch64"
#elif defined(__i386__) || defined(_M_IX86)
#define PYRNN_ARCH "x86"
#else
#define PYRNN_ARCH "unknown-cpu"
#endif
  return PYRNN_OS "-" PYRNN_ARCH;
}

int64_t current_thread_os_id() {
#if defined(__linux__) && defined(SYS_gettid)
  return static_cast<int64_t>(syscall(SYS_gettid));
#else
  return -1;
#endif
}

int current_cpu() {
#if defined(__linux__)
  return sched_getcpu();
#else
  return -1;
#endif
}

int allowed_cpus(int* cpus, int max) {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  int n = 0;
  for (int c = 0; c < CPU_SETSIZE && n < max; ++c)
    if (CPU_ISSET(c, &set)) cpus[n++] = c;
  return n;
#else
  (void)cpus;
  (void)max;
  return 0;
#endif
}

bool pin_thread_to_cpu(int64_t tid, int cpu) {
#if defined(__linux__)
  if (tid <= 0 || cpu < 0 || cpu >= CPU_SETSIZE) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(static_cast<pid_t>(tid), sizeof(set), &set) == 0;
#else
  (void)tid;
  (void)cpu;
  return false;
#endif
}

bool request_amx_permission() {
#if defined(__linux__) && defined(__x86_64__) && defined(SYS_arch_prctl)
  constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;  // <asm/prctl.h>, Linux 5.16+
  return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

}  // namespace pyrnn
