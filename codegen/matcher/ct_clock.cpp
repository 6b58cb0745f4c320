// CONFIG_HZ of the running kernel, for ct expiration (jiffies_to_msecs). The kernel exports it
// nowhere else at run time (USER_HZ is not HZ); the config is readable where IKCONFIG_PROC is set
// (this project's machines) or under /boot.
#include <sys/utsname.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>

#include "codegen/matcher/ct.h"

namespace nfbpf::codegen::matcher {

namespace {

std::optional<uint32_t> hz_from_line(const char* line) {
  static constexpr const char kKey[] = "CONFIG_HZ=";
  if (std::strncmp(line, kKey, sizeof(kKey) - 1) != 0) return std::nullopt;
  uint32_t v = static_cast<uint32_t>(std::strtoul(line + sizeof(kKey) - 1, nullptr, 10));
  if (v == 0) return std::nullopt;
  return v;
}

std::optional<uint32_t> from_proc_config() {
  gzFile f = gzopen("/proc/config.gz", "rb");
  if (!f) return std::nullopt;
  char line[256];
  std::optional<uint32_t> hz;
  while (!hz && gzgets(f, line, sizeof(line))) hz = hz_from_line(line);
  gzclose(f);
  return hz;
}

std::optional<uint32_t> from_boot_config() {
  utsname u{};
  if (uname(&u) != 0) return std::nullopt;
  std::ifstream in(std::string("/boot/config-") + u.release);
  std::string line;
  while (std::getline(in, line))
    if (auto hz = hz_from_line(line.c_str())) return hz;
  return std::nullopt;
}

}  // namespace

Result<uint32_t> read_kernel_hz() {
  static std::once_flag once;
  static std::optional<uint32_t> hz;
  std::call_once(once, [] {
    hz = from_proc_config();
    if (!hz) hz = from_boot_config();
  });
  if (!hz) return fail(ENOENT, "the kernel's CONFIG_HZ is unknown (no /proc/config.gz or /boot/config-*)");
  return *hz;
}

}  // namespace nfbpf::codegen::matcher
