#include "nfnl-server/offload/element_expiry.h"

#include <bpf/bpf.h>
#include <fcntl.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/log.h"
#include "nfnl-server/store/set.h"

namespace nfbpf::offload {

ElementExpiry::~ElementExpiry() {
  if (thread_.joinable()) {
    thread_.request_stop();
    cv_.notify_all();
    thread_.join();
  }
}

void ElementExpiry::replace(std::vector<Due> schedule) {
  {
    std::lock_guard lock(mu_);
    due_.clear();
    for (auto& d : schedule) due_.emplace(d.at_ms, std::move(d));
    if (due_.empty() && !thread_.joinable()) return;
    if (!thread_.joinable()) thread_ = std::jthread([this](std::stop_token st) { run(st); });
  }
  cv_.notify_all();
}

void ElementExpiry::run(std::stop_token stop) {
  std::unique_lock lock(mu_);
  while (!stop.stop_requested()) {
    if (due_.empty()) {
      cv_.wait(lock, stop, [&] { return !due_.empty(); });
      continue;
    }
    const uint64_t now = store::now_ms();
    const uint64_t next = due_.begin()->first;
    if (next > now) {
      // now_ms() is steady_clock in milliseconds: wait on the same clock.
      const auto deadline = std::chrono::steady_clock::time_point(std::chrono::milliseconds(next));
      cv_.wait_until(lock, stop, deadline, [&] { return !due_.empty() && due_.begin()->first <= store::now_ms(); });
      continue;
    }
    for (auto it = due_.begin(); it != due_.end() && it->first <= now;) {
      const Due& d = it->second;
      // ENOENT: already gone (a later commit removed it); anything else is worth a line.
      if (d.map && ::bpf_map_delete_elem(d.map->get(), d.key.data()) == 0) ++removed_;
      else if (d.map && errno != ENOENT) log::warn("offload: expiring a set element: {}", std::strerror(errno));
      it = due_.erase(it);
    }
  }
}

std::shared_ptr<const Fd> share_fd(int fd) {
  int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return nullptr;
  return std::make_shared<const Fd>(dup);
}

}  // namespace nfbpf::offload
