#pragma once
// nfbpfd's reader of the log ring buffer (codegen/chain/log.h): a thread that polls the ring and
// writes each record as the kernel's nf_log line (nf_log_format.h) to the daemon's log, at a
// daemon level from the record's syslog level ("nf_log <level>: <line>"). Bounded twice: the ring
// (1 MiB; a full ring drops records in the BPF program) and a token bucket here (kLinesPerSecond,
// kBurst); suppressed lines are counted and reported once lines flow again.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/result.h"

namespace nfbpf::offload {

class LogEvents {
 public:
  static constexpr uint32_t kLinesPerSecond = 100, kBurst = 200;
  // Where lines go (tests capture them); default: nfbpf::log.
  using Sink = std::function<void(int syslog_level, const std::string& line)>;

  // Starts the reader on a BPF_MAP_TYPE_RINGBUF fd (not owned: the map must outlive this).
  static Result<std::unique_ptr<LogEvents>> start(int ring_fd, Sink sink = {});
  ~LogEvents();
  LogEvents(const LogEvents&) = delete;
  LogEvents& operator=(const LogEvents&) = delete;

  uint64_t lines() const { return lines_.load(); }
  uint64_t suppressed() const { return suppressed_total_.load(); }
  int ring_fd() const { return ring_fd_; }

 private:
  LogEvents() = default;
  void run();
  void on_record(const void* data, size_t size);

  struct Ring;
  std::unique_ptr<Ring> ring_;
  int ring_fd_ = -1;
  Sink sink_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> lines_{0}, suppressed_total_{0};
  uint64_t suppressed_ = 0;   // since the last line that went out (reader thread only)
  double tokens_ = kBurst;
  int64_t last_ns_ = 0;
  std::thread thread_;
};

}  // namespace nfbpf::offload
