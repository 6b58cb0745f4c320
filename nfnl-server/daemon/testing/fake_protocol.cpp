#include "nfnl-server/daemon/testing/fake_protocol.h"

#include <linux/netlink.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "nfnl-server/daemon/nfnetlink_gate.h"

namespace nfbpf::nfnl::testing {

namespace {

nlmsghdr header_at(std::span<const uint8_t> d, size_t off) {
  nlmsghdr h;
  std::memcpy(&h, d.data() + off, sizeof(h));
  return h;
}

Message reply(uint16_t type, uint32_t seq, uint32_t portid, size_t size, uint16_t flags = 0) {
  Message m(NLMSG_ALIGN(size), 0);
  nlmsghdr h{};
  h.nlmsg_len = static_cast<uint32_t>(size);
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  h.nlmsg_seq = seq;
  h.nlmsg_pid = portid;
  std::memcpy(m.data(), &h, sizeof(h));
  return m;
}

uint32_t u32_at(std::span<const uint8_t> msg, size_t index) {
  uint32_t v = 0;
  const size_t off = NLMSG_HDRLEN + index * 4;
  if (off + 4 <= msg.size()) std::memcpy(&v, msg.data() + off, 4);
  return v;
}

}  // namespace

std::vector<Message> FakeProtocol::handle(const Peer& peer, std::span<const uint8_t> datagram,
                                          Multicast& multicast) {
  {
    std::lock_guard lock(mu_);
    last_peer_ = peer;
    ++calls_;
  }
  std::vector<Message> out;
  size_t off = 0;
  while (datagram.size() - off >= NLMSG_HDRLEN) {
    const nlmsghdr h = header_at(datagram, off);
    if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > datagram.size() - off) break;
    const auto msg = datagram.subspan(off, h.nlmsg_len);
    switch (h.nlmsg_type) {
      case kSlowSilent:
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        break;
      case kSlowEcho:
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        [[fallthrough]];
      case kEcho: {
        Message m(msg.begin(), msg.end());
        m.resize(NLMSG_ALIGN(m.size()), 0);
        nlmsghdr r = h;
        r.nlmsg_pid = peer.portid;
        std::memcpy(m.data(), &r, sizeof(r));
        out.push_back(std::move(m));
        break;
      }
      case kDump: {
        const uint32_t count = u32_at(msg, 0);
        const uint32_t size = std::max<uint32_t>(u32_at(msg, 1), NLMSG_HDRLEN);
        for (uint32_t i = 0; i < count; ++i) {
          Message m = reply(kDump, h.nlmsg_seq, peer.portid, size, NLM_F_MULTI);
          for (size_t b = NLMSG_HDRLEN; b < size; ++b) m[b] = static_cast<uint8_t>(i + b);
          out.push_back(std::move(m));
        }
        out.push_back(reply(NLMSG_DONE, h.nlmsg_seq, peer.portid, NLMSG_HDRLEN + 4, NLM_F_MULTI));
        break;
      }
      case kPublish: {
        Message m(msg.begin(), msg.end());
        m.resize(NLMSG_ALIGN(m.size()), 0);
        multicast.publish(u32_at(msg, 0), std::move(m), 0);
        break;
      }
      case kMeasure: {
        uint64_t words[2] = {datagram.size(), 0};
        for (uint8_t b : datagram) words[1] += b;
        Message m = reply(kMeasure, h.nlmsg_seq, peer.portid, NLMSG_HDRLEN + sizeof(words));
        std::memcpy(m.data() + NLMSG_HDRLEN, words, sizeof(words));
        out.push_back(std::move(m));
        off = datagram.size();  // one answer for the whole datagram
        continue;
      }
      default:
        out.push_back(daemon::build_plain_ack(peer, msg, -EOPNOTSUPP));
        break;
    }
    if ((h.nlmsg_flags & NLM_F_ACK) && h.nlmsg_type != kDump) {
      out.push_back(daemon::build_plain_ack(peer, msg, 0));
    }
    off += NLMSG_ALIGN(h.nlmsg_len);
    if (off > datagram.size()) break;
  }
  return out;
}

Peer FakeProtocol::last_peer() const {
  std::lock_guard lock(mu_);
  return last_peer_;
}

size_t FakeProtocol::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

Message make_request(uint16_t type, uint16_t flags, uint32_t seq, std::span<const uint8_t> payload) {
  const size_t len = NLMSG_HDRLEN + payload.size();
  Message m(NLMSG_ALIGN(len), 0);
  nlmsghdr h{};
  h.nlmsg_len = static_cast<uint32_t>(len);
  h.nlmsg_type = type;
  h.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
  h.nlmsg_seq = seq;
  std::memcpy(m.data(), &h, sizeof(h));
  if (!payload.empty()) std::memcpy(m.data() + NLMSG_HDRLEN, payload.data(), payload.size());
  return m;
}

Message make_u32_request(uint16_t type, uint16_t flags, uint32_t seq, std::vector<uint32_t> words) {
  return make_request(type, flags, seq,
                      {reinterpret_cast<const uint8_t*>(words.data()), words.size() * 4});
}

}  // namespace nfbpf::nfnl::testing
