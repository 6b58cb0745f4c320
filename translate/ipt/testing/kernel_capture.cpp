#include "translate/ipt/testing/kernel_capture.h"

#include <net/if.h>
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netpacket/packet.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstddef>
#include <cstring>

#include <fmt/format.h>

namespace nfbpf::translate::ipt::testing {

namespace {

// The child's answer on the pipe: "OK" + header + entries, or "ER" + a message.
struct Header {
  uint32_t valid_hooks, size;
  uint32_t hook_entry[5], underflow[5];
};

[[noreturn]] void child(const CaptureRequest& req, int out) {
  auto die = [&](const std::string& what) {
    std::string msg = "ER" + what;
    (void)!write(out, msg.data(), msg.size());
    _exit(1);
  };
  if (unshare(CLONE_NEWNET) != 0) die("unshare: " + std::string(strerror(errno)));
  if (system("ip link set lo up && ip link add v0 type veth peer name v1 && sysctl -qw net.ipv6.conf.v0.disable_ipv6=1 && ip link set v0 up && ip link set v1 up") != 0)
    die("ip link");
  for (const auto& c : req.commands) {
    std::string cmd = c + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) die("popen");
    std::string text;
    char buf[512];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) text.append(buf, n);
    if (pclose(p) != 0) die(fmt::format("`{}` failed: {}", c, text));
  }
  if (!req.frames.empty()) {
    int s = socket(AF_PACKET, SOCK_RAW, 0);
    if (s < 0) die("socket");
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(if_nametoindex("v0"));
    to.sll_halen = 6;
    for (const auto& f : req.frames)
      if (sendto(s, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != static_cast<ssize_t>(f.size()))
        die("sendto");
    usleep(200 * 1000);
    close(s);
  }
  const int level = req.family == AF_INET6 ? SOL_IPV6 : SOL_IP;
  int fd = socket(req.family, SOCK_RAW, IPPROTO_RAW);
  if (fd < 0) die("raw socket");
  ipt_getinfo info{};
  std::strncpy(info.name, req.table.c_str(), sizeof(info.name) - 1);
  socklen_t len = sizeof(info);
  if (getsockopt(fd, level, IPT_SO_GET_INFO, &info, &len) != 0) die("GET_INFO: " + std::string(strerror(errno)));
  std::vector<uint8_t> buf(sizeof(ipt_get_entries) + info.size, 0);
  // The request header (name, size) written in place: ipt_get_entries ends in a zero-length array.
  std::memcpy(buf.data() + offsetof(ipt_get_entries, name), req.table.c_str(),
              std::min(req.table.size(), sizeof(info.name) - 1));
  std::memcpy(buf.data() + offsetof(ipt_get_entries, size), &info.size, sizeof(info.size));
  len = static_cast<socklen_t>(buf.size());
  if (getsockopt(fd, level, IPT_SO_GET_ENTRIES, buf.data(), &len) != 0) die("GET_ENTRIES: " + std::string(strerror(errno)));
  Header h{.valid_hooks = info.valid_hooks, .size = info.size, .hook_entry = {}, .underflow = {}};
  std::memcpy(h.hook_entry, info.hook_entry, sizeof(h.hook_entry));
  std::memcpy(h.underflow, info.underflow, sizeof(h.underflow));
  std::string msg = "OK";
  msg.append(reinterpret_cast<const char*>(&h), sizeof(h));
  msg.append(reinterpret_cast<const char*>(buf.data() + sizeof(ipt_get_entries)), info.size);
  size_t off = 0;
  while (off < msg.size()) {
    ssize_t w = write(out, msg.data() + off, msg.size() - off);
    if (w <= 0) _exit(1);
    off += static_cast<size_t>(w);
  }
  _exit(0);
}

}  // namespace

std::vector<std::pair<uint64_t, uint64_t>> KernelTable::counters() const {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  const size_t hdr = family == AF_INET6 ? sizeof(ip6t_entry) : sizeof(ipt_entry);
  const size_t at = family == AF_INET6 ? offsetof(ip6t_entry, counters) : offsetof(ipt_entry, counters);
  const size_t next_at = family == AF_INET6 ? offsetof(ip6t_entry, next_offset) : offsetof(ipt_entry, next_offset);
  for (size_t off = 0; off + hdr <= entries.size();) {
    xt_counters c;
    std::memcpy(&c, entries.data() + off + at, sizeof(c));
    out.emplace_back(c.pcnt, c.bcnt);
    uint16_t next;
    std::memcpy(&next, entries.data() + off + next_at, sizeof(next));
    if (next == 0) break;
    off += next;
  }
  return out;
}

Result<KernelTable> capture(const CaptureRequest& req) {
  int fds[2];
  if (pipe(fds) != 0) return fail_errno("pipe");
  pid_t pid = fork();
  if (pid < 0) return fail_errno("fork");
  if (pid == 0) {
    close(fds[0]);
    child(req, fds[1]);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (text.size() < 2 || text.compare(0, 2, "OK") != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return failf(EIO, "capture child failed: {}", text.size() >= 2 ? text.substr(2) : text);
  Header h;
  if (text.size() < 2 + sizeof(h)) return failf(EIO, "capture: short answer");
  std::memcpy(&h, text.data() + 2, sizeof(h));
  KernelTable t{.family = req.family, .table = req.table, .valid_hooks = h.valid_hooks, .hook_entry = {}, .underflow = {}, .entries = {}};
  std::memcpy(t.hook_entry.data(), h.hook_entry, sizeof(h.hook_entry));
  std::memcpy(t.underflow.data(), h.underflow, sizeof(h.underflow));
  t.entries.assign(text.begin() + 2 + static_cast<long>(sizeof(h)), text.end());
  if (t.entries.size() != h.size) return failf(EIO, "capture: {} bytes of entries, expected {}", t.entries.size(), h.size);
  return t;
}

}  // namespace nfbpf::translate::ipt::testing
