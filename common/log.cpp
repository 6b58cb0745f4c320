#include "common/log.h"

#include <atomic>

namespace nfbpf::log {

namespace {
std::atomic<Level> g_threshold{Level::kInfo};
constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
}  // namespace

Level threshold() { return g_threshold.load(std::memory_order_relaxed); }
void set_threshold(Level l) { g_threshold.store(l, std::memory_order_relaxed); }

void write(Level l, std::string_view line) {
  fmt::print(stderr, "nfbpf[{}]: {}\n", kNames[static_cast<int>(l)], line);
}

}  // namespace nfbpf::log
