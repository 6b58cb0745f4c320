#include "codegen/kernel/testing/netns_pair.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

namespace nfbpf::codegen::testing {
namespace {

Result<Fd> current_netns() {
  int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno("opening /proc/thread-self/ns/net");
  return Fd(fd);
}

Result<Fd> fresh_netns() {
  if (::unshare(CLONE_NEWNET) != 0) return fail_errno("unshare(CLONE_NEWNET)");
  return current_netns();
}

Result<void> enter(const Fd& ns) {
  if (::setns(ns.get(), CLONE_NEWNET) != 0) return fail_errno("setns");
  return {};
}

}  // namespace

Result<void> NetnsPair::in(const Fd& ns, const std::function<void()>& f) const {
  NFBPF_TRYV(enter(ns));
  f();
  return enter(original_);
}

Result<void> NetnsPair::run(const Fd& ns, const std::vector<std::string>& argv) const {
  NFBPF_TRYV(enter(ns));
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  auto back = enter(original_);
  if (pid < 0) return fail_errno("fork");
  int status = 0;
  if (::waitpid(pid, &status, 0) < 0) return fail_errno("waitpid");
  NFBPF_TRYV(back);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    return failf(EIO, "command failed (status {:#x}): {}", status, cmd);
  }
  return {};
}

Result<NetnsPair> NetnsPair::create() {
  NetnsPair p;
  auto orig = current_netns();
  if (!orig) return std::unexpected(orig.error());
  p.original_ = std::move(*orig);
  auto sender = fresh_netns();
  if (!sender) return std::unexpected(sender.error());
  p.sender_ = std::move(*sender);
  auto receiver = fresh_netns();
  if (!receiver) {
    (void)enter(p.original_);
    return std::unexpected(receiver.error());
  }
  p.receiver_ = std::move(*receiver);
  NFBPF_TRYV(enter(p.original_));

  // ip(8) opens the target namespace by path; /proc/<pid>/fd/<n> names ours.
  std::string sender_path = fmt::format("/proc/{}/fd/{}", ::getpid(), p.sender_.get());
  NFBPF_TRYV(p.run_in_receiver({"ip", "link", "add", "vb", "address", "02:00:00:00:00:02", "type",
                                "veth", "peer", "name", "va", "address", "02:00:00:00:00:01",
                                "netns", sender_path}));
  NFBPF_TRYV(p.run_in_receiver({"ip", "addr", "add", "10.99.0.2/24", "dev", "vb"}));
  NFBPF_TRYV(p.run_in_receiver({"ip", "link", "set", "vb", "up"}));
  NFBPF_TRYV(p.run_in_receiver({"ip", "link", "set", "lo", "up"}));
  NFBPF_TRYV(p.run_in_receiver({"ip", "neigh", "replace", "10.99.0.1", "lladdr",
                                "02:00:00:00:00:01", "dev", "vb", "nud", "permanent"}));
  NFBPF_TRYV(p.run_in_sender({"ip", "addr", "add", "10.99.0.1/24", "dev", "va"}));
  NFBPF_TRYV(p.run_in_sender({"ip", "link", "set", "va", "up"}));
  NFBPF_TRYV(p.run_in_sender({"ip", "link", "set", "lo", "up"}));
  NFBPF_TRYV(p.run_in_sender({"ip", "neigh", "replace", "10.99.0.2", "lladdr",
                              "02:00:00:00:00:02", "dev", "va", "nud", "permanent"}));
  int sidx = 0, ridx = 0;
  NFBPF_TRYV(p.in_sender([&] { sidx = static_cast<int>(::if_nametoindex("va")); }));
  NFBPF_TRYV(p.in_receiver([&] { ridx = static_cast<int>(::if_nametoindex("vb")); }));
  if (sidx == 0 || ridx == 0) return fail(ENODEV, "veth pair not found after creation");
  p.sender_ifindex_ = sidx;
  p.receiver_ifindex_ = ridx;
  return p;
}

Result<Fd> udp_socket_bound(const char* addr, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_errno("socket");
  Fd s(fd);
  int big = 8 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, addr, &sa.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return fail_errno("bind");
  return s;
}

Result<int> udp_send(const Fd& sock, const char* addr, uint16_t port, int count, size_t payload_len) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, addr, &sa.sin_addr);
  std::vector<char> buf(payload_len, 'x');
  int sent = 0;
  for (int i = 0; i < count; ++i) {
    ssize_t n = ::sendto(sock.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    if (n < 0) return fail_errno("sendto");
    ++sent;
  }
  return sent;
}

int udp_drain(const Fd& sock, int idle_ms) {
  int got = 0;
  char buf[2048];
  for (;;) {
    pollfd pfd{sock.get(), POLLIN, 0};
    if (::poll(&pfd, 1, idle_ms) <= 0) return got;
    while (::recv(sock.get(), buf, sizeof buf, MSG_DONTWAIT) >= 0) ++got;
  }
}

}  // namespace nfbpf::codegen::testing
