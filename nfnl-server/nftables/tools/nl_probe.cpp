// Sends hand-crafted nfnetlink datagrams (malformed headers, bad attributes, batch edge cases)
// to the real kernel inside a fresh network namespace and records the kernel's replies in the
// replay format of replay_test.cpp ("<portid> S|R <hex>"), so the server can be held to the
// kernel's exact bytes for inputs nft never sends.
// Usage (root): nfbpf_nl_probe OUT.cap
#include <arpa/inet.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace {

using Bytes = std::vector<uint8_t>;

// Minimal builder for crafted messages (deliberately able to build invalid ones).
struct Msg {
  Bytes b;
  Msg(uint16_t type, uint16_t flags, uint32_t seq, uint8_t family = 2, uint16_t res_id = 0) {
    b.resize(20);
    std::memcpy(&b[4], &type, 2);
    std::memcpy(&b[6], &flags, 2);
    std::memcpy(&b[8], &seq, 4);
    b[16] = family;
    std::memcpy(&b[18], &res_id, 2);
  }
  Msg& attr(uint16_t type, const Bytes& payload, int len_override = -1) {
    uint16_t len = uint16_t(len_override >= 0 ? len_override : 4 + int(payload.size()));
    size_t at = b.size();
    b.resize(at + 4);
    std::memcpy(&b[at], &len, 2);
    std::memcpy(&b[at + 2], &type, 2);
    b.insert(b.end(), payload.begin(), payload.end());
    while (b.size() % 4) b.push_back(0);
    return *this;
  }
  Msg& u32(uint16_t type, uint32_t v) {
    v = htonl(v);
    return attr(type, Bytes(reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4));
  }
  Msg& raw(const Bytes& x) {
    b.insert(b.end(), x.begin(), x.end());
    return *this;
  }
  Bytes done(int len_override = -1) {
    uint32_t len = uint32_t(len_override >= 0 ? len_override : int(b.size()));
    std::memcpy(&b[0], &len, 4);
    return b;
  }
};

Bytes cstr(const std::string& s) {
  Bytes v(s.begin(), s.end());
  v.push_back(0);
  return v;
}

uint16_t nft(uint16_t m) { return uint16_t(NFNL_SUBSYS_NFTABLES << 8 | m); }
constexpr uint16_t kReq = NLM_F_REQUEST;

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes begin(uint32_t seq, std::optional<uint32_t> genid = {}, uint16_t res = htons(NFNL_SUBSYS_NFTABLES)) {
  Msg m(NFNL_MSG_BATCH_BEGIN, kReq, seq, 0, res);
  if (genid) m.u32(NFNL_BATCH_GENID, *genid);
  return m.done();
}
Bytes end(uint32_t seq) { return Msg(NFNL_MSG_BATCH_END, kReq, seq, 0, htons(NFNL_SUBSYS_NFTABLES)).done(); }
Bytes newtable(uint32_t seq, const std::string& name, uint16_t flags = NLM_F_CREATE) {
  return Msg(nft(NFT_MSG_NEWTABLE), kReq | flags, seq).attr(NFTA_TABLE_NAME, cstr(name)).done();
}

FILE* out;
int sock;
uint32_t portid;

void hex(char dir, const uint8_t* p, size_t n) {
  std::fprintf(out, "%u %c ", portid, dir);
  for (size_t i = 0; i < n; i++) std::fprintf(out, "%02x", p[i]);
  std::fprintf(out, "\n");
}

void exchange(const std::string& what, const Bytes& d) {
  std::fprintf(out, "# %s\n", what.c_str());
  sockaddr_nl k{};
  k.nl_family = AF_NETLINK;
  if (sendto(sock, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&k), sizeof(k)) < 0) {
    std::perror("sendto");
    return;
  }
  hex('S', d.data(), d.size());
  std::vector<uint8_t> buf(1 << 16);
  while (true) {
    pollfd p{sock, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) break;
    ssize_t n = recv(sock, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    hex('R', buf.data(), size_t(n));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.cap\n", argv[0]);
    return 2;
  }
  if (unshare(CLONE_NEWNET) != 0) {
    std::perror("unshare(CLONE_NEWNET)");
    return 1;
  }
  out = std::fopen(argv[1], "w");
  sock = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
  int one = 1;
  setsockopt(sock, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  sockaddr_nl a{};
  a.nl_family = AF_NETLINK;
  bind(sock, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t al = sizeof(a);
  getsockname(sock, reinterpret_cast<sockaddr*>(&a), &al);
  portid = a.nl_pid;
  std::fprintf(out, "#! comm nfbpf_nl_probe\n#! ext_ack 1\n#! pid %d\n", getpid());

  uint32_t s = 100;
  exchange("getgen", Msg(nft(NFT_MSG_GETGEN), kReq, s++, 0).done());
  exchange("batch: one table, no ack", cat({begin(s), newtable(s + 1, "t"), end(s + 2)}));
  s += 3;
  exchange("batch: NLM_F_ACK on every message", cat({begin(s), newtable(s + 1, "a", NLM_F_CREATE | NLM_F_ACK), end(s + 2)}));
  s += 3;
  exchange("batch: existing table with EXCL", cat({begin(s), newtable(s + 1, "t", NLM_F_CREATE | NLM_F_EXCL), end(s + 2)}));
  s += 3;
  exchange("batch: two errors, one good", cat({begin(s), newtable(s + 1, "t", NLM_F_CREATE | NLM_F_EXCL), newtable(s + 2, "b"), newtable(s + 3, "a", NLM_F_CREATE | NLM_F_EXCL), end(s + 4)}));
  s += 5;
  exchange("batch: no END (aborted, no reply)", cat({begin(s), newtable(s + 1, "c")}));
  s += 2;
  exchange("batch: no END with an error", cat({begin(s), newtable(s + 1, "t", NLM_F_CREATE | NLM_F_EXCL)}));
  s += 2;
  exchange("batch: stale genid", cat({begin(s, 1), newtable(s + 1, "d"), end(s + 2)}));
  s += 3;
  exchange("batch: res_id in host order", cat({begin(s, {}, NFNL_SUBSYS_NFTABLES), newtable(s + 1, "e"), end(s + 2)}));
  s += 3;
  exchange("batch: res_id of another subsystem", cat({begin(s, {}, htons(NFNL_SUBSYS_CTNETLINK)), newtable(s + 1, "f"), end(s + 2)}));
  s += 3;
  exchange("batch: res_id out of range", cat({begin(s, {}, htons(200)), newtable(s + 1, "f"), end(s + 2)}));
  s += 3;
  exchange("batch: message without NLM_F_REQUEST", cat({begin(s), Msg(nft(NFT_MSG_NEWTABLE), NLM_F_CREATE, s + 1).attr(NFTA_TABLE_NAME, cstr("g")).done(), end(s + 2)}));
  s += 3;
  exchange("batch: BEGIN twice", cat({begin(s), newtable(s + 1, "h"), begin(s + 2), end(s + 3)}));
  s += 4;
  exchange("batch: GET inside a batch", cat({begin(s), Msg(nft(NFT_MSG_GETTABLE), kReq, s + 1).attr(NFTA_TABLE_NAME, cstr("t")).done(), end(s + 2)}));
  s += 3;
  exchange("batch: control message type", cat({begin(s), Msg(NLMSG_NOOP, kReq, s + 1).done(), end(s + 2)}));
  s += 3;
  exchange("batch: other subsystem message", cat({begin(s), Msg(NFNL_SUBSYS_CTNETLINK << 8, kReq, s + 1).done(), end(s + 2)}));
  s += 3;
  exchange("batch: unknown nft message type", cat({begin(s), Msg(nft(NFT_MSG_MAX + 3), kReq, s + 1).done(), end(s + 2)}));
  s += 3;
  exchange("batch: truncated message inside", cat({begin(s), newtable(s + 1, "i"), Msg(nft(NFT_MSG_NEWTABLE), kReq, s + 2).done(200), end(s + 3)}));
  s += 4;
  exchange("batch: message shorter than nfgenmsg", cat({begin(s), Msg(nft(NFT_MSG_NEWTABLE), kReq, s + 1).done(18), end(s + 2)}));
  s += 3;
  exchange("batch: unknown attribute type", cat({begin(s), Msg(nft(NFT_MSG_NEWTABLE), kReq | NLM_F_CREATE, s + 1).attr(NFTA_TABLE_NAME, cstr("j")).attr(NFTA_TABLE_MAX + 5, {1, 2, 3, 4}).done(), end(s + 2)}));
  s += 3;
  exchange("batch: u32 attribute of 3 bytes", cat({begin(s), Msg(nft(NFT_MSG_NEWTABLE), kReq | NLM_F_CREATE, s + 1).attr(NFTA_TABLE_NAME, cstr("k")).attr(NFTA_TABLE_FLAGS, {0, 0, 0}).done(), end(s + 2)}));
  s += 3;
  exchange("batch: attribute with an output-only type", cat({begin(s), Msg(nft(NFT_MSG_NEWTABLE), kReq | NLM_F_CREATE, s + 1).attr(NFTA_TABLE_NAME, cstr("l")).u32(NFTA_TABLE_USE, 3).done(), end(s + 2)}));
  s += 3;
  exchange("batch: name longer than 255", cat({begin(s), newtable(s + 1, std::string(300, 'x')), end(s + 2)}));
  s += 3;
  exchange("batch: trailing garbage after attributes", cat({begin(s), Msg(nft(NFT_MSG_NEWTABLE), kReq | NLM_F_CREATE, s + 1).attr(NFTA_TABLE_NAME, cstr("m")).raw({1, 0}).done(), end(s + 2)}));
  s += 3;
  exchange("batch: table without name", cat({begin(s), Msg(nft(NFT_MSG_NEWTABLE), kReq | NLM_F_CREATE, s + 1).done(), end(s + 2)}));
  s += 3;
  exchange("batch: unsupported family", cat({begin(s), Msg(nft(NFT_MSG_NEWTABLE), kReq | NLM_F_CREATE, s + 1, 42).attr(NFTA_TABLE_NAME, cstr("n")).done(), end(s + 2)}));
  s += 3;
  exchange("batch: unknown table flags", cat({begin(s), Msg(nft(NFT_MSG_NEWTABLE), kReq | NLM_F_CREATE, s + 1).attr(NFTA_TABLE_NAME, cstr("o")).u32(NFTA_TABLE_FLAGS, 0x100).done(), end(s + 2)}));
  s += 3;
  exchange("batch: chain in missing table", cat({begin(s), Msg(nft(NFT_MSG_NEWCHAIN), kReq | NLM_F_CREATE, s + 1).attr(NFTA_CHAIN_TABLE, cstr("nosuch")).attr(NFTA_CHAIN_NAME, cstr("c")).done(), end(s + 2)}));
  s += 3;
  exchange("batch: empty (BEGIN END)", cat({begin(s), end(s + 1)}));
  s += 2;
  exchange("batch: delete missing table with ACK", cat({begin(s), Msg(nft(NFT_MSG_DELTABLE), kReq | NLM_F_ACK, s + 1).attr(NFTA_TABLE_NAME, cstr("zz")).done(), end(s + 2)}));
  s += 3;
  exchange("batch: destroy missing table", cat({begin(s), Msg(nft(NFT_MSG_DESTROYTABLE), kReq | NLM_F_ACK, s + 1).attr(NFTA_TABLE_NAME, cstr("zz")).done(), end(s + 2)}));
  s += 3;
  exchange("single: NEWTABLE outside a batch", newtable(s++, "p"));
  exchange("single: GETTABLE missing, with ACK", Msg(nft(NFT_MSG_GETTABLE), kReq | NLM_F_ACK, s++).attr(NFTA_TABLE_NAME, cstr("nosuch")).done());
  exchange("single: GETTABLE existing, with ACK", Msg(nft(NFT_MSG_GETTABLE), kReq | NLM_F_ACK, s++).attr(NFTA_TABLE_NAME, cstr("t")).done());
  exchange("single: GETTABLE unknown attribute", Msg(nft(NFT_MSG_GETTABLE), kReq, s++).attr(NFTA_TABLE_NAME, cstr("t")).attr(30, {1, 2, 3, 4}).done());
  exchange("single: GETTABLE bad u64 length", Msg(nft(NFT_MSG_GETTABLE), kReq, s++).attr(NFTA_TABLE_HANDLE, {1, 2, 3, 4}).done());
  exchange("single: GETTABLE output-only attribute", Msg(nft(NFT_MSG_GETTABLE), kReq, s++).u32(NFTA_TABLE_USE, 1).done());
  exchange("single: GETTABLE without name", Msg(nft(NFT_MSG_GETTABLE), kReq, s++).done());
  exchange("single: dump tables with ACK", Msg(nft(NFT_MSG_GETTABLE), kReq | NLM_F_DUMP | NLM_F_ACK, s++, 0).done());
  exchange("single: not a request", Msg(nft(NFT_MSG_GETTABLE), NLM_F_ACK, s++).done());
  exchange("single: control message with ACK", Msg(NLMSG_NOOP, kReq | NLM_F_ACK, s++).done());
  exchange("single: unknown type", Msg(nft(NFT_MSG_MAX + 3), kReq, s++).done());
  exchange("single: NEWGEN (no handler)", Msg(nft(NFT_MSG_NEWGEN), kReq, s++).done());
  exchange("single: shorter than nfgenmsg, with ACK", Msg(nft(NFT_MSG_GETGEN), kReq | NLM_F_ACK, s++).done(18));
  exchange("single: two GETGENs in one datagram", cat({Msg(nft(NFT_MSG_GETGEN), kReq, s).done(), Msg(nft(NFT_MSG_GETGEN), kReq, s + 1).done()}));
  s += 2;
  exchange("single: second message truncated", cat({Msg(nft(NFT_MSG_GETGEN), kReq, s).done(), Msg(nft(NFT_MSG_GETGEN), kReq, s + 1).done(100)}));
  s += 2;
  exchange("single: dump chains of missing family", Msg(nft(NFT_MSG_GETCHAIN), kReq | NLM_F_DUMP, s++, 10).done());
  exchange("single: getgen at the end", Msg(nft(NFT_MSG_GETGEN), kReq, s++, 0).done());
  std::fclose(out);
  return 0;
}
