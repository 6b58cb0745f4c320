#include "nfnl-server/cli/verify/scratch_net.h"

#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "nfnl-server/cli/verify/process.h"

namespace nfbpf::verify {

namespace {

std::string mac_text(const uint8_t m[6]) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

Result<void> must(const std::vector<std::string>& argv, int ns) {
  auto r = run(argv, RunOptions{.netns_fd = ns, .timeout = std::chrono::milliseconds(10000)});
  if (!r) return std::unexpected(std::move(r).error());
  if (r->status != 0) return failf(EIO, "{}: {}", fmt::join(argv, " "), r->err);
  return {};
}

}  // namespace

Result<Fd> ScratchNet::new_ns() {
  if (unshare(CLONE_NEWNET) != 0) return fail_errno("unshare(CLONE_NEWNET)");
  Fd fd(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  const int saved = errno;
  if (setns(home_.get(), CLONE_NEWNET) != 0) return fail_errno("setns back to the original namespace");
  if (!fd.valid()) {
    errno = saved;
    return fail_errno("open /proc/self/ns/net");
  }
  return fd;
}

Result<Fd> ScratchNet::extra_ns() { return new_ns(); }

Result<ScratchNet> ScratchNet::create(const std::string& in_dev, const std::string& out_dev) {
  auto bad = [](const std::string& n) {
    return n.empty() || n.size() >= IFNAMSIZ || n == "lo" || n.find_first_of("/ \t:") != std::string::npos;
  };
  if (bad(in_dev) || bad(out_dev) || in_dev == out_dev)
    return failf(EINVAL, "device names '{}' and '{}': two different names of at most {} characters", in_dev, out_dev,
                 IFNAMSIZ - 1);
  ScratchNet net;
  net.in_dev_ = in_dev;
  net.out_dev_ = out_dev;
  net.home_ = Fd(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!net.home_.valid()) return fail_errno("open /proc/self/ns/net");
  for (Fd* f : {&net.s_, &net.k_, &net.n_}) {
    auto fd = net.new_ns();
    if (!fd) return std::unexpected(std::move(fd).error());
    *f = std::move(*fd);
  }
  NFBPF_TRYV(net.configure());
  return net;
}

Result<void> ScratchNet::configure() {
  const std::string sender_path = fmt::format("/proc/{}/fd/{}", getpid(), s_.get());
  for (Side side : {Side::kKernel, Side::kNfbpf}) {
    const int ns = this->ns(side);
    const std::string peer = side == Side::kKernel ? "k0" : "n0";
    // Forwarding on (the forward path), before any device exists: IPv6 forwarding is decided by
    // `all`, while a device whose own `forwarding` is 1 joins ff02::2 and sends MLD reports at
    // random times (through output and postrouting) — new devices get default's 0.
    NFBPF_TRYV(must({"sysctl", "-qw", "net.ipv4.ip_forward=1"}, ns));
    NFBPF_TRYV(must({"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"}, ns));
    NFBPF_TRYV(must({"sysctl", "-qw", "net.ipv6.conf.default.forwarding=0"}, ns));
    NFBPF_TRYV(must({"ip", "link", "add", in_dev_, "index", std::to_string(kRecvIfindex), "address", mac_text(kRecvMac),
                     "type", "veth", "peer", "name", peer, "address", mac_text(kSenderMac), "netns", sender_path},
                    ns));
    NFBPF_TRYV(must({"ip", "link", "set", "lo", "up"}, ns));
    // No IPv6 address of their own on the sides' devices: the stack then sends nothing by itself
    // (no DAD, router solicitation or MLD report), which would cross output and postrouting at
    // random times and blur those chains' counters. IPv6 stays on, or ip6_rcv drops every probe.
    NFBPF_TRYV(must({"ip", "link", "set", in_dev_, "addrgenmode", "none"}, ns));
    NFBPF_TRYV(must({"ip", "link", "set", in_dev_, "up"}, ns));
    NFBPF_TRYV(must({"ip", "link", "set", peer, "up"}, s_.get()));
    // The sender's kernel sends nothing of its own (no IPv6 autoconfiguration on its veths).
    NFBPF_TRYV(must({"sysctl", "-qw", fmt::format("net.ipv6.conf.{}.disable_ipv6=1", peer)}, s_.get()));
    // Any source address is fine on p1 (no reverse-path filter; sources that look local too).
    for (const std::string& dev : {std::string("all"), std::string("default"), in_dev_}) {
      NFBPF_TRYV(must({"sysctl", "-qw", fmt::format("net.ipv4.conf.{}.rp_filter=0", dev)}, ns));
      NFBPF_TRYV(must({"sysctl", "-qw", fmt::format("net.ipv4.conf.{}.accept_local=1", dev)}, ns));
    }
    NFBPF_TRYV(must({"ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100"}, ns));
    NFBPF_TRYV(must({"ip", "rule", "add", "iif", in_dev_, "lookup", "100", "pref", "10"}, ns));
    NFBPF_TRYV(must({"ip", "-6", "route", "add", "local", "::/0", "dev", "lo", "table", "100"}, ns));
    NFBPF_TRYV(must({"ip", "-6", "rule", "add", "iif", in_dev_, "lookup", "100", "pref", "10"}, ns));
    // The forward path's way out: a veth whose peer sits in S and ignores what arrives (no ARP on
    // it, so nothing waits for a neighbour; forwarded packets leave after postrouting).
    const std::string out_peer = side == Side::kKernel ? "kf" : "nf";
    NFBPF_TRYV(must({"ip", "link", "add", out_dev_, "type", "veth", "peer", "name", out_peer, "netns", sender_path}, ns));
    NFBPF_TRYV(must({"ip", "link", "set", out_dev_, "addrgenmode", "none"}, ns));
    NFBPF_TRYV(must({"ip", "link", "set", out_dev_, "arp", "off", "up"}, ns));
    NFBPF_TRYV(must({"sysctl", "-qw", fmt::format("net.ipv6.conf.{}.disable_ipv6=1", out_peer)}, s_.get()));
    NFBPF_TRYV(must({"ip", "link", "set", out_peer, "up"}, s_.get()));
    NFBPF_TRYV(must({"ip", "route", "add", "default", "dev", out_dev_, "table", "200"}, ns));
    NFBPF_TRYV(must({"ip", "-6", "route", "add", "default", "dev", out_dev_, "table", "200"}, ns));
    // The prerouting-only path: a blackhole (table 300, selected by set_path).
    NFBPF_TRYV(must({"ip", "route", "add", "blackhole", "default", "table", "300"}, ns));
    NFBPF_TRYV(must({"ip", "-6", "route", "add", "blackhole", "default", "table", "300"}, ns));
    NFBPF_TRYV(must({"ip", "rule", "add", "oif", out_dev_, "lookup", "200", "pref", "6"}, ns));
    NFBPF_TRYV(must({"ip", "-6", "rule", "add", "oif", out_dev_, "lookup", "200", "pref", "6"}, ns));
  }
  for (Side side : {Side::kKernel, Side::kNfbpf})
    NFBPF_TRYV(in_ns(ns(side), [&]() -> Result<void> {
      const size_t i = side == Side::kKernel ? 0 : 1;
      raw4_[i] = Fd(socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));   // IP_HDRINCL implied
      raw6_[i] = Fd(socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));  // IPV6_HDRINCL implied
      for (Fd* f : {&raw4_[i], &raw6_[i]}) {
        if (!f->valid()) return fail_errno("raw socket");
        int one = 1;
        setsockopt(f->get(), SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
        if (setsockopt(f->get(), SOL_SOCKET, SO_BINDTODEVICE, out_dev_.c_str(), static_cast<socklen_t>(out_dev_.size())) != 0)
          return fail_errno("SO_BINDTODEVICE " + out_dev_);
      }
      return {};
    }));
  return in_ns(s_.get(), [&]() -> Result<void> {
    for (Side side : {Side::kKernel, Side::kNfbpf}) {
      Fd s(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
      if (!s.valid()) return fail_errno("AF_PACKET socket");
      int one = 1;
      setsockopt(s.get(), SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);  // frames leave as built
      sockaddr_ll sll{};
      sll.sll_family = AF_PACKET;
      sll.sll_ifindex = static_cast<int>(if_nametoindex(side == Side::kKernel ? "k0" : "n0"));
      if (sll.sll_ifindex == 0 || bind(s.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
        return fail_errno("bind the sender socket");
      (side == Side::kKernel ? tx_k_ : tx_n_) = std::move(s);
    }
    return {};
  });
}

Result<void> ScratchNet::set_path(Path p) {
  if (p == path_) return {};
  if (path_ == Path::kReplies) NFBPF_TRYV(answer(false));
  const char* table = p == Path::kForward ? "200" : p == Path::kReplies ? "main" : "300";
  for (Side side : {Side::kKernel, Side::kNfbpf})
    for (const char* fam : {"-4", "-6"}) {
      if (path_ != Path::kLocal) (void)run({"ip", fam, "rule", "del", "pref", "5"}, RunOptions{.netns_fd = ns(side)});
      if (p != Path::kLocal) NFBPF_TRYV(must({"ip", fam, "rule", "add", "iif", in_dev_, "lookup", table, "pref", "5"}, ns(side)));
    }
  path_ = p;
  if (p == Path::kReplies) NFBPF_TRYV(answer(true));
  return {};
}

Result<void> ScratchNet::answer(bool on) {
  const std::string sender = mac_text(kSenderMac), v = on ? "0" : "1";
  for (Side side : {Side::kKernel, Side::kNfbpf}) {
    const int n = ns(side);
    // Replies as a host sends them: no redirect for a packet forwarded out of the device it came in
    // by, no ICMP rate limit, no automatic flow label; sources that are the side's own address are
    // martians again (accept_local back to 0). The probes carry no valid TCP/UDP checksum: conntrack
    // would call them invalid and NAT would never see them (the check stays off only in this path).
    for (const std::string& kv :
         {"net.ipv4.conf.all.accept_local=" + v, fmt::format("net.ipv4.conf.{}.accept_local={}", in_dev_, v),
          "net.ipv4.conf.all.send_redirects=" + v, fmt::format("net.ipv4.conf.{}.send_redirects={}", in_dev_, v)})
      NFBPF_TRYV(must({"sysctl", "-qw", kv}, n));
    (void)run({"sysctl", "-qw", "net.netfilter.nf_conntrack_checksum=" + v}, RunOptions{.netns_fd = n});
    if (on) {
      for (const char* kv : {"net.ipv4.icmp_ratemask=0", "net.ipv4.icmp_ratelimit=0", "net.ipv4.icmp_msgs_per_sec=1000000",
                             "net.ipv4.icmp_msgs_burst=1000000", "net.ipv6.icmp.ratelimit=0", "net.ipv6.auto_flowlabels=0"})
        NFBPF_TRYV(must({"sysctl", "-qw", kv}, n));
      NFBPF_TRYV(must({"ip", "addr", "add", "198.51.100.2/32", "dev", in_dev_}, n));
      NFBPF_TRYV(must({"ip", "addr", "add", "2001:db8::2/128", "dev", in_dev_, "nodad"}, n));
      NFBPF_TRYV(must({"ip", "neigh", "replace", "192.0.2.254", "lladdr", sender, "dev", in_dev_, "nud", "permanent"}, n));
      NFBPF_TRYV(must({"ip", "route", "add", "default", "via", "192.0.2.254", "dev", in_dev_, "onlink"}, n));
      NFBPF_TRYV(must({"ip", "-6", "neigh", "replace", "fe80::1", "lladdr", sender, "dev", in_dev_, "nud", "permanent"}, n));
      NFBPF_TRYV(must({"ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", in_dev_}, n));
    } else {
      // Without the address and the routes back the sides answer nothing again.
      (void)run({"ip", "route", "del", "default"}, RunOptions{.netns_fd = n});
      (void)run({"ip", "-6", "route", "del", "default"}, RunOptions{.netns_fd = n});
      (void)run({"ip", "addr", "del", "198.51.100.2/32", "dev", in_dev_}, RunOptions{.netns_fd = n});
      (void)run({"ip", "addr", "del", "2001:db8::2/128", "dev", in_dev_}, RunOptions{.netns_fd = n});
    }
  }
  return {};
}

Result<bool> ScratchNet::send_local(Side s, const std::vector<uint8_t>& frame) {
  const size_t i = s == Side::kKernel ? 0 : 1;
  if (frame.size() < 14) return false;
  const uint16_t type = static_cast<uint16_t>(frame[12] << 8 | frame[13]);
  const uint8_t* ip = frame.data() + 14;
  const size_t len = frame.size() - 14;
  ssize_t sent = -1;
  if (type == 0x0800 && len >= 20 && (ip[0] >> 4) == 4) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    std::memcpy(&to.sin_addr, ip + 16, 4);
    sent = sendto(raw4_[i].get(), ip, len, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  } else if (type == 0x86dd && len >= 40 && (ip[0] >> 4) == 6) {
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    std::memcpy(&to.sin6_addr, ip + 24, 16);
    sent = sendto(raw6_[i].get(), ip, len, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  } else {
    return false;
  }
  // EPERM: a hook dropped it — sent, and counted by the rules it crossed. Other refusals (a length
  // the header contradicts, no route for that destination) are the same on both sides: skipped.
  return sent >= 0 || errno == EPERM;
}

Result<void> ScratchNet::in_ns(int fd, const std::function<Result<void>()>& fn) {
  if (setns(fd, CLONE_NEWNET) != 0) return fail_errno("setns");
  auto r = fn();
  if (setns(home_.get(), CLONE_NEWNET) != 0) return fail_errno("setns back to the original namespace");
  return r;
}

Result<void> ScratchNet::send(Side s, const std::vector<uint8_t>& frame) {
  const int fd = s == Side::kKernel ? tx_k_.get() : tx_n_.get();
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (::send(fd, frame.data(), frame.size(), 0) >= 0) return {};
    if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) break;
    usleep(1000);  // the backlog is full: let the receiver's softirq catch up
  }
  return fail_errno("send a frame");
}

}  // namespace nfbpf::verify
