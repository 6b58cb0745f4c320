// The builder's checksums against packets the kernel computed itself: in a private network
// namespace, our requests go over a veth pair to the kernel, the kernel answers (ICMP echo
// reply, TCP RST, ICMPv6 echo reply: all checksummed in software, never offloaded), we capture
// the answers and rebuild them with the builder from their visible fields. Byte-identical
// means identical lengths and checksums. Root only (label "root").
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/packet/packet.h"

namespace nfbpf::packet {
namespace {

constexpr const char* kV0Mac = "02:00:00:00:00:01";
constexpr const char* kV1Mac = "02:00:00:00:00:02";

const Bytes kPing = {'n', 'f', 'b', 'p', 'f', '-', 'p', 'k'};

std::vector<Packet> requests() {
  return {
      Packet::ipv4("10.0.0.1", "10.0.0.2").icmp_echo(0x1234, 1).payload(kPing),
      Packet::ipv4("10.0.0.1", "10.0.0.2").tcp(40000, 9).seq(1000).flags(tcp::kSyn),
      Packet::ipv6("2001:db8::1", "2001:db8::2").icmp6_echo(7, 1).payload(kPing),
  };
}

// In a child in a new network namespace: send the requests from v0, capture what comes back.
// Returns one L3 packet (hex) per request, in order, or an error text.
std::vector<std::string> capture_replies(std::string& err) {
  int fds[2];
  if (pipe(fds) != 0) return err = "pipe", std::vector<std::string>{};
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    auto die = [&](const char* what) {
      dprintf(fds[1], "ERR %s\n", what);
      _exit(1);
    };
    if (unshare(CLONE_NEWNET) != 0) die("unshare");
    const char* setup =
        "ip link add v0 type veth peer name v1 && sysctl -qw net.ipv6.conf.v0.disable_ipv6=1 && "
        "ip link set v0 address 02:00:00:00:00:01 && ip link set v1 address 02:00:00:00:00:02 && "
        "ip addr add 10.0.0.2/24 dev v1 && ip -6 addr add 2001:db8::2/64 dev v1 nodad && "
        "ip link set v0 up && ip link set v1 up && "
        "ip neigh add 10.0.0.1 lladdr 02:00:00:00:00:01 dev v1 nud permanent && "
        "ip -6 neigh add 2001:db8::1 lladdr 02:00:00:00:00:01 dev v1 nud permanent";
    if (system(setup) != 0) die("setup");
    int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (s < 0) die("socket");
    sockaddr_ll me{};
    me.sll_family = AF_PACKET;
    me.sll_protocol = htons(ETH_P_ALL);
    me.sll_ifindex = static_cast<int>(if_nametoindex("v0"));
    if (bind(s, reinterpret_cast<sockaddr*>(&me), sizeof(me)) != 0) die("bind");
    timeval tv{.tv_sec = 2, .tv_usec = 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (const auto& req : requests()) {
      Bytes f = Packet(req).ether(kV0Mac, kV1Mac).bytes();
      sockaddr_ll to = me;
      to.sll_halen = 6;
      if (sendto(s, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != static_cast<ssize_t>(f.size()))
        die("sendto");
      // The answer: the first incoming frame of the same IP version and L4 protocol family.
      bool got = false;
      for (int i = 0; i < 50 && !got; ++i) {
        uint8_t buf[2048];
        sockaddr_ll from{};
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(s, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n < 0) die("no reply");
        if (from.sll_pkttype == PACKET_OUTGOING || n < 14 + 20) continue;
        uint16_t type = static_cast<uint16_t>(buf[12] << 8 | buf[13]);
        const uint8_t* l3 = buf + 14;
        bool v6 = req.is_ipv6();
        if (type != (v6 ? ethertype::kIp6 : ethertype::kIp)) continue;
        uint8_t proto = v6 ? l3[6] : l3[9];
        if (proto != req.l4_protocol()) continue;
        if (v6 && l3[40] != 129) continue;  // skip neighbour discovery and the like
        dprintf(fds[1], "%s\n", hex({l3, static_cast<size_t>(n - 14)}).c_str());
        got = true;
      }
      if (!got) die("reply not found");
    }
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    err = "child failed: " + text;
    return {};
  }
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t e = text.find('\n', pos);
    lines.push_back(text.substr(pos, e - pos));
    pos = e == std::string::npos ? text.size() : e + 1;
  }
  return lines;
}

Bytes unhex(const std::string& h) {
  Bytes b;
  for (size_t i = 0; i + 1 < h.size(); i += 2) b.push_back(static_cast<uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return b;
}

TEST(KernelCapture, RebuiltRepliesAreByteIdentical) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (label root)";
  std::string err;
  auto replies = capture_replies(err);
  ASSERT_TRUE(err.empty()) << err;
  ASSERT_EQ(replies.size(), 3u);

  // ICMP echo reply: the kernel chose id, DF and TTL; everything else follows from our request.
  Bytes icmp = unhex(replies[0]);
  ASSERT_GE(icmp.size(), 28u);
  Bytes mine = Packet::ipv4("10.0.0.2", "10.0.0.1")
                   .tos(icmp[1])
                   .id(static_cast<uint16_t>(icmp[4] << 8 | icmp[5]))
                   .dont_fragment(icmp[6] & 0x40)
                   .ttl(icmp[8])
                   .icmp(0, 0, 0x12340001)
                   .payload(kPing)
                   .l3();
  EXPECT_EQ(hex(mine), replies[0]) << describe_l3(icmp);

  // TCP RST|ACK from a closed port: seq 0, ack = our seq + 1, window 0.
  Bytes rst = unhex(replies[1]);
  ASSERT_GE(rst.size(), 40u);
  mine = Packet::ipv4("10.0.0.2", "10.0.0.1")
             .tos(rst[1])
             .id(static_cast<uint16_t>(rst[4] << 8 | rst[5]))
             .dont_fragment(rst[6] & 0x40)
             .ttl(rst[8])
             .tcp(9, 40000)
             .seq(0)
             .ack_seq(1001)
             .flags(tcp::kRst | tcp::kAck)
             .window(0)
             .l3();
  EXPECT_EQ(hex(mine), replies[1]) << describe_l3(rst);

  // ICMPv6 echo reply (checksum over the IPv6 pseudo header).
  Bytes e6 = unhex(replies[2]);
  ASSERT_GE(e6.size(), 48u);
  uint32_t w0 = static_cast<uint32_t>(e6[0]) << 24 | e6[1] << 16 | e6[2] << 8 | e6[3];
  mine = Packet::ipv6("2001:db8::2", "2001:db8::1")
             .traffic_class(static_cast<uint8_t>(w0 >> 20))
             .flow_label(w0 & 0xfffff)
             .hop_limit(e6[7])
             .icmp6(129, 0, 0x00070001)
             .payload(kPing)
             .l3();
  EXPECT_EQ(hex(mine), replies[2]) << describe_l3(e6);
}

}  // namespace
}  // namespace nfbpf::packet
