// The operating-system-specific pieces (see pyrnn/platform.h). One #if per OS, nothing
// POSIX outside the POSIX branches.

#include "pyrnn/platform.h"

#include <cstdlib>

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <malloc.h>   // _aligned_malloc
#include <process.h>  // _getpid
#include <windows.h>  // GetSystemInfo, GlobalMemoryStatusEx
#else
#include <unistd.h>  // getpid, sysconf
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

size_t page_size() {
#if defined(_WIN32)
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  if (si.dwPageSize > 0) return static_cast<size_t>(si.dwPageSize);
#elif defined(_SC_PAGE_SIZE)
  const long page = sysconf(_SC_PAGE_SIZE);  // 16 KiB on Apple silicon
  if (page > 0) return static_cast<size_t>(page);
#endif
  return 4096;
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

}  // namespace pyrnn
