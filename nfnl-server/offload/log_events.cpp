#include "nfnl-server/offload/log_events.h"

#include <bpf/libbpf.h>

#include <chrono>
#include <cstring>

#include "codegen/abi/log_event.h"
#include "common/log.h"
#include "nfnl-server/offload/nf_log_format.h"

namespace nfbpf::offload {

struct LogEvents::Ring {
  ring_buffer* rb = nullptr;
  ~Ring() {
    if (rb) ring_buffer__free(rb);
  }
};

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void default_sink(int level, const std::string& line) {
  std::string text = fmt::format("nf_log <{}>: {}", level, line);
  if (level <= 4) log::warn("{}", text);  // emerg..warning
  else log::info("{}", text);             // notice, info, debug: all shown at the default threshold
}

}  // namespace

Result<std::unique_ptr<LogEvents>> LogEvents::start(int ring_fd, Sink sink) {
  std::unique_ptr<LogEvents> le(new LogEvents());
  le->ring_fd_ = ring_fd;
  le->sink_ = sink ? std::move(sink) : Sink(default_sink);
  le->ring_ = std::make_unique<Ring>();
  le->last_ns_ = now_ns();
  auto cb = [](void* ctx, void* data, size_t size) -> int {
    static_cast<LogEvents*>(ctx)->on_record(data, size);
    return 0;
  };
  le->ring_->rb = ring_buffer__new(ring_fd, cb, le.get(), nullptr);
  if (!le->ring_->rb) return fail_errno("ring_buffer__new (the log ring)");
  le->thread_ = std::thread([p = le.get()] { p->run(); });
  return le;
}

LogEvents::~LogEvents() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void LogEvents::run() {
  while (!stop_) {
    int n = ring_buffer__poll(ring_->rb, 100);
    if (n < 0 && n != -EINTR) {
      log::error("nf_log: polling the log ring failed ({}); log statements go unreported", n);
      return;
    }
  }
  ring_buffer__consume(ring_->rb);  // what is already there
}

void LogEvents::on_record(const void* data, size_t size) {
  if (size < sizeof(codegen::abi::LogEvent)) return;
  codegen::abi::LogEvent e;
  std::memcpy(&e, data, sizeof e);
  if (e.magic != codegen::abi::kLogEventMagic) return;
  int64_t t = now_ns();
  tokens_ = std::min<double>(kBurst, tokens_ + static_cast<double>(t - last_ns_) * kLinesPerSecond / 1e9);
  last_ns_ = t;
  if (tokens_ < 1) {
    ++suppressed_;
    ++suppressed_total_;
    return;
  }
  tokens_ -= 1;
  if (suppressed_) {
    sink_(4, fmt::format("{} log lines suppressed (more than {} per second)", suppressed_, kLinesPerSecond));
    suppressed_ = 0;
  }
  sink_(e.level, format_nf_log(e));
  ++lines_;
}

}  // namespace nfbpf::offload
