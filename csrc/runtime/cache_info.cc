// Per-core cache sizes, read once at first use (see pyrnn/cache_info.h).

#include "pyrnn/cache_info.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace pyrnn {

namespace {

struct CacheSizes {
  int64_t l1d = int64_t(32) << 10;
  int64_t l2 = int64_t(1) << 20;
  CacheSizes() {
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
      const int lv = std::atoi(level);
      if (lv == 1 && std::strncmp(type, "Data", 4) == 0) l1d = bytes;
      if (lv == 2 && std::strncmp(type, "Instruction", 11) != 0) l2 = bytes;
    }
#endif
  }
};

const CacheSizes& sizes() {
  static const CacheSizes s;
  return s;
}

}  // namespace

int64_t cache_l1d_bytes() { return sizes().l1d; }
int64_t cache_l2_bytes() { return sizes().l2; }

}  // namespace pyrnn
