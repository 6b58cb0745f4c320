// Differential replay: every testdata/*.cap file is a real nft <-> kernel session recorded with
// tools/capture.sh in a fresh network namespace (kernel 6.18, nft 1.0.6). Each request is fed
// to the protocol with the same port id / pid; the replies must be byte-identical to what the
// kernel sent (same messages, same order, same padding).
#include <gtest/gtest.h>
#include <linux/netlink.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <sstream>

#include "nfnl-server/nftables/protocol.h"

namespace nfbpf::nftables {
namespace {

struct Event {
  int pid;
  char dir;
  std::vector<uint8_t> bytes;
  std::string cmd;   // the nft command line this event belongs to
  std::string comm;  // the client's process name ("#! comm" lines; nft when none)
  bool ext_ack = true;  // NETLINK_EXT_ACK on its socket
};

// "#! comm NAME" / "#! pid N" lines describe the client when it is not nft (nl_probe); a
// "#! comm" line applies to the events after it (capture.sh records one per process).
struct Client {
  std::string comm = "nft";
  // Captures without "#! comm" lines are nft sessions (extended acks on); in captures with them
  // each process starts without and "#! ext_ack 1" turns them on.
  bool ext_ack = true;
  int pid = 0;  // 0: the port id is the pid (one netfilter socket per nft process)
};

std::vector<Event> load(const std::filesystem::path& p, Client& client) {
  std::vector<Event> out;
  std::ifstream in(p);
  std::string line, cmd;
  while (std::getline(in, line)) {
    if (line.rfind("#! comm ", 0) == 0) {
      client.comm = line.substr(8);
      client.ext_ack = false;
      continue;
    }
    if (line.rfind("#! ext_ack 1", 0) == 0) {
      client.ext_ack = true;
      continue;
    }
    if (line.rfind("#! pid ", 0) == 0) {
      client.pid = std::stoi(line.substr(7));
      continue;
    }
    if (line.rfind("# ", 0) == 0) {
      cmd = line.substr(2);
      continue;
    }
    std::istringstream ls(line);
    Event e;
    std::string hex;
    ls >> e.pid >> e.dir >> hex;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
      e.bytes.push_back(uint8_t(std::stoi(hex.substr(i, 2), nullptr, 16)));
    e.cmd = cmd;
    e.comm = client.comm;
    e.ext_ack = client.ext_ack;
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::vector<uint8_t>> split_msgs(const std::vector<uint8_t>& rec) {
  std::vector<std::vector<uint8_t>> out;
  size_t off = 0;
  while (rec.size() - off >= NLMSG_HDRLEN) {
    nlmsghdr h;
    std::memcpy(&h, rec.data() + off, sizeof(h));
    if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > rec.size() - off) break;
    out.emplace_back(rec.begin() + long(off), rec.begin() + long(off + h.nlmsg_len));
    off += NLMSG_ALIGN(h.nlmsg_len);
  }
  return out;
}

std::string hex(const std::vector<uint8_t>& v) {
  std::string s;
  char b[4];
  for (size_t i = 0; i < v.size(); i++) {
    std::snprintf(b, sizeof(b), "%02x", v[i]);
    s += b;
    if (i % 4 == 3) s += ' ';
  }
  return s;
}

// Zeroes NFTA_SET_ELEM_EXPIRATION values inside an element nest: they count down in real time.
void mask_expiration(std::vector<uint8_t>& el) {
  size_t off = 4;  // past the NFTA_LIST_ELEM header
  while (off + 4 <= el.size()) {
    uint16_t len, type;
    std::memcpy(&len, &el[off], 2);
    std::memcpy(&type, &el[off + 2], 2);
    if (len < 4 || off + len > el.size()) return;
    if ((type & NLA_TYPE_MASK) == 5 && len == 12) std::memset(&el[off + 4], 0, 8);
    off += NLA_ALIGN(len);
  }
}

// Hash-backed sets dump their elements in rhashtable order, which depends on a per-set random
// seed (two kernel runs of the same script differ), and expirations count down in real time.
// For NEWSETELEM messages the elements are therefore compared as a multiset with expirations
// masked: this returns the message with its element nests sorted and masked.
std::vector<uint8_t> sorted_elements(const std::vector<uint8_t>& m) {
  constexpr size_t kHdr = NLMSG_HDRLEN + 4;
  if (m.size() < kHdr || ((m[5] << 8) | m[4]) != ((10 << 8) | 12)) return m;  // NEWSETELEM
  std::vector<uint8_t> out(m.begin(), m.begin() + kHdr);
  size_t off = kHdr;
  while (off + 4 <= m.size()) {
    uint16_t len, type;
    std::memcpy(&len, &m[off], 2);
    std::memcpy(&type, &m[off + 2], 2);
    if (len < 4 || off + len > m.size()) return m;
    size_t alen = NLA_ALIGN(len);
    if ((type & NLA_TYPE_MASK) == 3) {  // NFTA_SET_ELEM_LIST_ELEMENTS
      std::vector<std::vector<uint8_t>> elems;
      size_t e = off + 4;
      while (e + 4 <= off + len) {
        uint16_t el;
        std::memcpy(&el, &m[e], 2);
        if (el < 4) return m;
        elems.emplace_back(m.begin() + long(e), m.begin() + long(std::min(e + NLA_ALIGN(el), off + len)));
        mask_expiration(elems.back());
        e += NLA_ALIGN(el);
      }
      std::sort(elems.begin(), elems.end());
      out.insert(out.end(), m.begin() + long(off), m.begin() + long(off + 4));
      for (auto& x : elems) out.insert(out.end(), x.begin(), x.end());
    } else {
      out.insert(out.end(), m.begin() + long(off), m.begin() + long(std::min(off + alen, m.size())));
    }
    off += alen;
  }
  return out;
}

bool same_replies(const std::vector<std::vector<uint8_t>>& a,
                  const std::vector<std::vector<uint8_t>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (a[i] != b[i] && sorted_elements(a[i]) != sorted_elements(b[i])) return false;
  return true;
}

int max_print() {
  const char* e = std::getenv("NFBPF_REPLAY_MAX_PRINT");
  return e ? std::atoi(e) : 5;
}

struct NullMulticast : nfnl::Multicast {
  void publish(uint32_t, nfnl::Message, uint32_t) override {}
};

class Replay : public ::testing::TestWithParam<std::string> {};

TEST_P(Replay, RepliesAreByteIdenticalToTheKernel) {
  Client client;
  auto events = load(GetParam(), client);
  ASSERT_FALSE(events.empty());
  auto proto = make_nftables_protocol();
  NullMulticast mc;
  size_t i = 0;
  int mismatches = 0;
  int last_pid = 0;
  while (i < events.size()) {
    const Event& s = events[i];
    ASSERT_EQ(s.dir, 'S') << "capture starts with a receive at event " << i;
    // Each nft command is a process of its own: when the next one starts, the previous one's
    // socket has been closed (what it owned with NFT_TABLE_F_OWNER is gone).
    if (last_pid && s.pid != last_pid) proto->released(uint32_t(last_pid));
    last_pid = s.pid;
    nfnl::Peer peer;
    peer.portid = uint32_t(s.pid);
    peer.pid = client.pid ? client.pid : s.pid;
    peer.comm = s.comm;
    peer.cap_net_admin = true;
    peer.ext_ack = s.ext_ack;
    auto mine = proto->handle(peer, s.bytes, mc);
    std::vector<std::vector<uint8_t>> kernel;
    size_t j = i + 1;
    for (; j < events.size() && events[j].dir == 'R' && events[j].pid == s.pid; j++)
      for (auto& m : split_msgs(events[j].bytes)) kernel.push_back(std::move(m));
    std::vector<std::vector<uint8_t>> ours;
    for (auto& m : mine) ours.push_back(std::move(m));
    if (!same_replies(ours, kernel) && mismatches < max_print()) {
      mismatches++;
      std::string msg = "command: " + s.cmd + "\nrequest: " + hex(s.bytes) + "\n";
      for (size_t k = 0; k < std::max(ours.size(), kernel.size()); k++) {
        std::string a = k < kernel.size() ? hex(kernel[k]) : "(none)";
        std::string b = k < ours.size() ? hex(ours[k]) : "(none)";
        if (a != b) msg += "kernel[" + std::to_string(k) + "]: " + a + "\nours  [" + std::to_string(k) + "]: " + b + "\n";
      }
      ADD_FAILURE() << msg;
    } else if (!same_replies(ours, kernel)) {
      mismatches++;
    }
    i = j;
  }
  EXPECT_EQ(mismatches, 0);
}

// NFBPF_REPLAY_DIR replays another directory of captures (e.g. freshly recorded tests-py runs).
std::vector<std::string> captures() {
  std::vector<std::string> out;
  const char* dir = std::getenv("NFBPF_REPLAY_DIR");
  for (auto& e : std::filesystem::directory_iterator(dir ? dir : NFBPF_NFT_TESTDATA))
    if (e.path().extension() == ".cap") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

INSTANTIATE_TEST_SUITE_P(Captures, Replay, ::testing::ValuesIn(captures()),
                         [](const auto& param_info) {
                           std::string n = std::filesystem::path(param_info.param).stem().string();
                           for (char& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

}  // namespace
}  // namespace nfbpf::nftables
