// nfbpf_live_sender: the traffic side of the live benchmark (bench/live/run.py).
//
// Sends UDP datagrams from the namespace it runs in, alternating between a target path (a veth pair
// into the namespace whose filter is measured) and a reference path (a second veth pair into a
// namespace without any filter), and prints the sender thread's CPU time per packet for each.
//
// Why the sender's CPU time: a veth transmit hands the skb to the peer's backlog and the receive
// softirq then runs at local_bh_enable() in the sending task's context, so the whole receive path,
// netfilter hooks included, is charged to this thread (the kernel has no IRQ time accounting, see
// docs/performance.md). CPU time is far less noisy than wall-clock rate on shared cores; pairing
// every target run with a reference run cancels what drifts (frequency, cache pressure).
//
// Output: one JSON object per line, {"round": r, "target_ns": x, "reference_ns": y} (ns per packet).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fmt/core.h>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"

namespace {

using nfbpf::Fd;
using nfbpf::Result;

struct Path {
  Fd sock;
  sockaddr_in dst{};
};

Result<sockaddr_in> parse_addr(const std::string& ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) return nfbpf::failf(EINVAL, "bad IPv4 address '{}'", ip);
  return a;
}

// A UDP socket bound to `src` and connected to `dst`: connected so the route is looked up once.
Result<Path> open_path(const std::string& src, const std::string& dst, uint16_t port) {
  Path p;
  auto remote = parse_addr(dst, port);
  if (!remote) return std::unexpected(remote.error());
  auto local = parse_addr(src, 0);
  if (!local) return std::unexpected(local.error());
  p.dst = *remote;
  p.sock = Fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!p.sock) return nfbpf::fail_errno("socket");
  if (bind(p.sock.get(), reinterpret_cast<sockaddr*>(&*local), sizeof *local) != 0)
    return nfbpf::fail_errno(fmt::format("bind {}", src));
  if (connect(p.sock.get(), reinterpret_cast<sockaddr*>(&p.dst), sizeof p.dst) != 0)
    return nfbpf::fail_errno(fmt::format("connect {}", dst));
  return p;
}

uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Sends `count` datagrams in batches of sendmmsg (the syscall cost is shared by the batch and is
// the same on both paths); returns CPU ns per packet, or an error if the kernel refused a send.
Result<double> send_burst(const Path& p, uint32_t count, uint32_t payload) {
  constexpr size_t kBatch = 64;
  std::vector<char> buf(payload, 'x');
  std::array<iovec, kBatch> iov{};
  std::array<mmsghdr, kBatch> msgs{};
  for (size_t i = 0; i < kBatch; ++i) {
    iov[i] = {buf.data(), buf.size()};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint32_t sent = 0;
  const uint64_t start = thread_cpu_ns();
  while (sent < count) {
    const unsigned n = static_cast<unsigned>(std::min<size_t>(kBatch, count - sent));
    const int r = sendmmsg(p.sock.get(), msgs.data(), n, 0);
    if (r < 0) {
      // A drop verdict on the output path or a full queue can surface as EPERM/ENOBUFS: the packet
      // was still processed, count it. Anything else is a broken set-up.
      if (errno == EPERM || errno == ENOBUFS || errno == ECONNREFUSED) {
        sent += 1;
        continue;
      }
      return nfbpf::fail_errno("sendmmsg");
    }
    sent += static_cast<uint32_t>(r);
  }
  return static_cast<double>(thread_cpu_ns() - start) / count;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nfbpf_live_sender: CPU time per packet on a filtered path vs a reference path"};
  std::string src, target, reference_src, reference;
  uint16_t port = 9;
  uint32_t count = 20000, rounds = 7, payload = 18;
  app.add_option("--src", src, "source address on the target veth")->required();
  app.add_option("--target", target, "destination through the filtered namespace")->required();
  app.add_option("--reference-src", reference_src, "source address on the reference veth")->required();
  app.add_option("--reference", reference, "destination through the unfiltered namespace")->required();
  app.add_option("--port", port, "UDP destination port");
  app.add_option("--count", count, "packets per run")->check(CLI::Range(1u, 10'000'000u));
  app.add_option("--rounds", rounds, "paired runs")->check(CLI::Range(1u, 1000u));
  app.add_option("--payload", payload, "UDP payload bytes")->check(CLI::Range(0u, 1400u));
  CLI11_PARSE(app, argc, argv);

  auto tgt = open_path(src, target, port);
  auto ref = open_path(reference_src, reference, port);
  if (!tgt || !ref) {
    fmt::print(stderr, "nfbpf_live_sender: {}\n", (!tgt ? tgt.error() : ref.error()).describe());
    return 2;
  }
  // One unmeasured burst each: ARP resolution, route caches and page faults stay out of the figures.
  (void)send_burst(*tgt, 256, payload);
  (void)send_burst(*ref, 256, payload);
  for (uint32_t r = 0; r < rounds; ++r) {
    auto t = send_burst(*tgt, count, payload);
    auto f = send_burst(*ref, count, payload);
    if (!t || !f) {
      fmt::print(stderr, "nfbpf_live_sender: {}\n", (!t ? t.error() : f.error()).describe());
      return 2;
    }
    fmt::print("{{\"round\": {}, \"target_ns\": {:.2f}, \"reference_ns\": {:.2f}}}\n", r, *t, *f);
  }
  return 0;
}
