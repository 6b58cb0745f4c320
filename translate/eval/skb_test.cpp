// pktinfo setup against hand-derived offsets (nf_tables_ipv4.h / nf_tables_ipv6.h semantics).
#include "translate/eval/skb.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "common/packet/packet.h"

namespace nfbpf::eval {
namespace {

using packet::Packet;

Skb l3(const packet::Bytes& b) { return Skb{.buf = b}; }

TEST(PktInfo, Ipv4WithOptionsAndFragments) {
  auto b = Packet::ipv4("1.1.1.1", "2.2.2.2").ip_options({1, 1, 1, 1}).tcp(1, 2).l3();
  PktInfo p = pktinfo_ipv4(l3(b));
  EXPECT_TRUE(p.l4);
  EXPECT_EQ(p.tprot, 6);
  EXPECT_EQ(p.thoff, 24u);
  EXPECT_EQ(p.fragoff, 0);
  auto f = Packet::ipv4("1.1.1.1", "2.2.2.2").fragment(1480, true).udp(1, 2).l3();
  EXPECT_EQ(pktinfo_ipv4(l3(f)).fragoff, 1480);
  EXPECT_EQ(pktinfo_ipv4(l3(f)).tprot, 17);
}

TEST(PktInfo, Ipv4ValidateRejectsWhatTheKernelRejects) {
  auto ok = Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).l3();
  ASSERT_TRUE(pktinfo_ipv4_validate(l3(ok)));
  EXPECT_EQ(pktinfo_ipv4_validate(l3(ok))->thoff, 20u);
  EXPECT_FALSE(pktinfo_ipv4_validate(l3(Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).ihl(4).l3())));
  EXPECT_FALSE(pktinfo_ipv4_validate(l3(Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).total_length(29).l3())));
  EXPECT_FALSE(pktinfo_ipv4_validate(l3(Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).total_length(19).l3())));
  EXPECT_FALSE(pktinfo_ipv4_validate(l3(Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).ip_version(5).l3())));
  // tot_len shorter than the buffer is fine (trailing bytes): thoff <= len.
  EXPECT_TRUE(pktinfo_ipv4_validate(l3(Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).trailer({0, 0}).l3())));
  // ihl 15 with a 28-byte packet: len (28) < thoff (60).
  EXPECT_FALSE(pktinfo_ipv4_validate(l3(Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).ihl(15).l3())));
  // With a link header in front (netdev egress: skb->data at the frame), thoff counts it.
  auto fr = Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).ether().bytes();
  Skb eg{.buf = fr, .data = 0, .network = 14, .mac = 0};
  ASSERT_TRUE(pktinfo_ipv4_validate(eg));
  EXPECT_EQ(pktinfo_ipv4_validate(eg)->thoff, 34u);
}

TEST(PktInfo, Ipv6FindHdr) {
  uint32_t off = 0;
  uint16_t frag = 0;
  auto plain = Packet::ipv6("::1", "::2").udp(1, 2).l3();
  EXPECT_EQ(ipv6_find_transport(l3(plain), off, frag), 17);
  EXPECT_EQ(off, 40u);
  // hbh (8) + routing with 16 bytes data (24) + dstopts with 6 option bytes (8) = 40 bytes.
  auto chain = Packet::ipv6("::1", "::2").hop_by_hop().routing(0, 1, packet::Bytes(16, 0)).dest_opts({1, 4, 0, 0, 0, 0}).tcp(1, 2).l3();
  EXPECT_EQ(ipv6_find_transport(l3(chain), off, frag), 6);
  EXPECT_EQ(off, 80u);
  EXPECT_EQ(frag, 0);
  // First fragment: transport found after the 8-byte fragment header.
  auto first = Packet::ipv6("::1", "::2").fragment(0, true).tcp(1, 2).l3();
  EXPECT_EQ(ipv6_find_transport(l3(first), off, frag), 6);
  EXPECT_EQ(off, 48u);
  EXPECT_EQ(frag, 0);
  // Non-first: the protocol with the offset (in bytes).
  auto later = Packet::ipv6("::1", "::2").fragment(1232, false).tcp(1, 2).l3();
  EXPECT_EQ(ipv6_find_transport(l3(later), off, frag), 6);
  EXPECT_EQ(frag, 1232);
  // Non-first followed by an extension header: -ENOENT.
  auto odd = Packet::ipv6("::1", "::2").fragment(8, false).dest_opts().udp(1, 2).l3();
  EXPECT_EQ(ipv6_find_transport(l3(odd), off, frag), -ENOENT);
  // AH stops the walk; ESP (50) is not an extension header for ipv6_ext_hdr.
  auto ah = Packet::ipv6("::1", "::2").hop_by_hop().ext_header(51, packet::Bytes(11, 0)).udp(1, 2).l3();
  EXPECT_EQ(ipv6_find_transport(l3(ah), off, frag), 51);
  EXPECT_EQ(off, 48u);
  auto esp = Packet::ipv6("::1", "::2").l4(50, packet::Bytes(8, 0)).l3();
  EXPECT_EQ(ipv6_find_transport(l3(esp), off, frag), 50);
  // Truncated inside the chain: -EBADMSG.
  EXPECT_EQ(ipv6_find_transport(l3(Packet::ipv6("::1", "::2").hop_by_hop().udp(1, 2).truncate(41).l3()), off, frag), -EBADMSG);
  EXPECT_EQ(ipv6_find_transport(l3(Packet::ipv6("::1", "::2").fragment(8, true).udp(1, 2).truncate(43).l3()), off, frag), -EBADMSG);
}

TEST(PktInfo, Ipv6ValidateChecksPayloadLength) {
  auto ok = Packet::ipv6("::1", "::2").udp(1, 2).l3();
  EXPECT_TRUE(pktinfo_ipv6_validate(l3(ok)));
  EXPECT_FALSE(pktinfo_ipv6_validate(l3(Packet::ipv6("::1", "::2").udp(1, 2).payload_length(9).l3())));
  EXPECT_TRUE(pktinfo_ipv6_validate(l3(Packet::ipv6("::1", "::2").udp(1, 2).payload_length(7).l3())));
  EXPECT_FALSE(pktinfo_ipv6_validate(l3(Packet::ipv6("::1", "::2").udp(1, 2).ip_version(4).l3())));
  // The non-validating variant ignores the payload length.
  EXPECT_TRUE(pktinfo_ipv6(l3(Packet::ipv6("::1", "::2").udp(1, 2).payload_length(900).l3())).l4);
}

TEST(Skb, CopyBoundsAndHeadroom) {
  packet::Bytes fr(54, 0xaa);
  Skb s{.buf = fr, .data = 14, .network = 14, .mac = 0};
  uint8_t out[64];
  EXPECT_TRUE(s.copy(0, out, 40));
  EXPECT_FALSE(s.copy(1, out, 40));
  EXPECT_TRUE(s.copy(-14, out, 6));   // the mac header, before skb->data
  EXPECT_FALSE(s.copy(-15, out, 1));  // before the frame we have
  EXPECT_EQ(s.len(), 40u);
}

}  // namespace
}  // namespace nfbpf::eval
