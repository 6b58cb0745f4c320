#pragma once
// Minimal leveled logging to stderr (the daemon runs in the foreground; journald adds timestamps).

#include <fmt/format.h>

#include <cstdio>

namespace nfbpf::log {

enum class Level { kDebug, kInfo, kWarn, kError };

Level threshold();
void set_threshold(Level l);
void write(Level l, std::string_view line);

template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... a) {
  if (threshold() <= Level::kDebug) write(Level::kDebug, fmt::format(f, std::forward<Args>(a)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... a) {
  if (threshold() <= Level::kInfo) write(Level::kInfo, fmt::format(f, std::forward<Args>(a)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... a) {
  if (threshold() <= Level::kWarn) write(Level::kWarn, fmt::format(f, std::forward<Args>(a)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... a) {
  write(Level::kError, fmt::format(f, std::forward<Args>(a)...));
}

}  // namespace nfbpf::log
