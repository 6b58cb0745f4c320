// Expected bytes below were computed independently (a short Python script with struct/socket and
// a bitwise CRC32c), or are the textbook example header from RFC 1071-style worked examples;
// none of them come from this builder.
#include "common/packet/packet.h"

#include <gtest/gtest.h>

#include "common/packet/checksum.h"

namespace nfbpf::packet {
namespace {

Bytes from_hex(std::string_view h) {
  Bytes b;
  for (size_t i = 0; i + 1 < h.size(); i += 2) b.push_back(static_cast<uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return b;
}

TEST(Checksum, Crc32cStandardCheckValue) {
  std::string_view s = "123456789";
  EXPECT_EQ(crc32c({reinterpret_cast<const uint8_t*>(s.data()), s.size()}), 0xe3069283u);
}

TEST(Checksum, InetSumOfHeaderWithChecksumIsAllOnes) {
  // The classic example header 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7.
  Bytes h = from_hex("45000073000040004011b861c0a80001c0a800c7");
  EXPECT_EQ(inet_finish(inet_sum(h)), 0);
  h[10] = h[11] = 0;
  EXPECT_EQ(inet_finish(inet_sum(h)), 0xb861);
}

TEST(Packet, Ipv4HeaderMatchesTextbookExample) {
  Bytes b = Packet::ipv4("192.168.0.1", "192.168.0.199").dont_fragment().ttl(64).udp(1, 2).payload_size(87).l3();
  ASSERT_EQ(b.size(), 0x73u);
  EXPECT_EQ(hex({b.data(), 20}), "45000073000040004011b861c0a80001c0a800c7");
}

TEST(Packet, TcpSynIpv4ExactBytes) {
  Bytes b = Packet::ipv4("10.0.0.1", "10.0.0.2").id(0x1c46).dont_fragment().tcp(1234, 22).seq(1).flags(tcp::kSyn).l3();
  EXPECT_EQ(hex(b), "450000281c46400040060a880a0000010a00000204d2001600000001000000005002faf09c060000");
}

TEST(Packet, UdpIpv6ExactBytes) {
  Bytes b = Packet::ipv6("2001:db8::1", "2001:db8::2").udp(5353, 53).payload({'h', 'e', 'l', 'l', 'o'}).l3();
  EXPECT_EQ(hex(b),
            "60000000000d114020010db800000000000000000000000120010db800000000000000000000000214e90035000d4b6f68656c6c6f");
}

TEST(Packet, IcmpAndIcmp6Checksums) {
  Bytes v4 = Packet::ipv4("10.0.0.1", "10.0.0.2").icmp_echo(0x1234, 1).payload({'a', 'b', 'c', 'd'}).l3();
  EXPECT_EQ(hex({v4.data() + 20, v4.size() - 20}), "080021041234000161626364");
  Bytes v6 = Packet::ipv6("2001:db8::1", "2001:db8::2").icmp6_echo(7, 1).l3();
  EXPECT_EQ(hex({v6.data() + 40, v6.size() - 40}), "8000244000070001");
}

TEST(Packet, SctpCrc32cLittleEndian) {
  Bytes b = Packet::ipv4("10.0.0.1", "10.0.0.2").sctp(5000, 80, 0xdeadbeef).sctp_chunk(1, 0, Bytes(16, 0)).l3();
  EXPECT_EQ(hex({b.data() + 20, b.size() - 20}), "13880050deadbeefc6d0f3320100001400000000000000000000000000000000");
  EXPECT_EQ(b[9], proto::kSctp);
}

TEST(Packet, EthernetFraming) {
  Packet p = Packet::ipv6("::1", "::2").udp(1, 2).ether("02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff");
  Bytes b = p.bytes();
  ASSERT_EQ(b.size(), 14u + 48u);
  EXPECT_EQ(hex({b.data(), 14}), "ffffffffffff02000000000186dd");
  EXPECT_EQ(p.l2_len(), 14u);
  EXPECT_EQ(Bytes(b.begin() + 14, b.end()), p.l3());
}

TEST(Packet, Ipv4OptionsPaddedAndCounted) {
  Bytes b = Packet::ipv4("10.0.0.1", "10.0.0.2").ip_options({0x94, 0x04, 0, 0, 0x01}).udp(1, 2).l3();
  EXPECT_EQ(b[0], 0x47);  // 20 + 8 bytes of options: ihl 7
  EXPECT_EQ(b.size(), 28u + 8u);
  EXPECT_EQ(b[2] << 8 | b[3], 36);
  EXPECT_EQ(inet_finish(inet_sum({b.data(), 28})), 0);  // header checksum covers the options
  EXPECT_EQ(b[28], 0);   // UDP sport high byte right after the options
  EXPECT_EQ(b[29], 1);
}

TEST(Packet, Ipv4Fragments) {
  Bytes first = Packet::ipv4("10.0.0.1", "10.0.0.2").fragment(0, true).tcp(1, 2).l3();
  EXPECT_EQ(first[6] << 8 | first[7], 0x2000);
  Bytes later = Packet::ipv4("10.0.0.1", "10.0.0.2").fragment(1480, false).tcp(1, 2).l3();
  EXPECT_EQ(later[6] << 8 | later[7], 185);
  EXPECT_EQ(inet_finish(inet_sum({later.data(), 20})), 0);
}

TEST(Packet, Ipv6ExtensionHeaderChain) {
  Packet p = Packet::ipv6("2001:db8::1", "2001:db8::2")
                 .hop_by_hop()
                 .routing(0, 1, Bytes(16, 0))
                 .fragment(8, true)
                 .dest_opts({0x01, 0x01, 0x00})  // PadN(1) + explicit padding
                 .tcp(80, 8080);
  Bytes b = p.l3();
  EXPECT_EQ(b[6], proto::kHopByHop);
  size_t off = 40;
  EXPECT_EQ(b[off], proto::kRouting);
  EXPECT_EQ(b[off + 1], 0);  // 8 bytes
  off += 8;
  EXPECT_EQ(b[off], proto::kFragment);
  EXPECT_EQ(b[off + 1], 2);  // 24 bytes
  EXPECT_EQ(b[off + 3], 1);  // segments left
  off += 24;
  EXPECT_EQ(b[off], proto::kDstOpts);
  EXPECT_EQ(b[off + 2] << 8 | b[off + 3], 8 | 1);  // offset 8 bytes = 1 unit << 3, M
  off += 8;
  EXPECT_EQ(b[off], proto::kTcp);
  off += 8;
  EXPECT_EQ(off, p.l4_offset());
  EXPECT_EQ(b[off] << 8 | b[off + 1], 80);
  EXPECT_EQ(b[4] << 8 | b[5], static_cast<int>(b.size() - 40));
}

TEST(Packet, TcpChecksumVerifiesWithPseudoHeaderOverIpv6AndOptions) {
  Bytes b = Packet::ipv6("fe80::1", "fe80::2").tcp(1, 2).flags(tcp::kSyn | tcp::kAck)
                .tcp_options({2, 4, 0x05, 0xb4, 1, 3, 3, 7}).payload_size(3).l3();
  // Receiver-side check: the sum over pseudo header + segment folds to 0xffff.
  Bytes ph(b.begin() + 8, b.begin() + 40);
  uint32_t len = static_cast<uint32_t>(b.size() - 40);
  ph.insert(ph.end(), {0, 0, static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len), 0, 0, 0, 6});
  EXPECT_EQ(inet_finish(inet_sum({b.data() + 40, len}, inet_sum(ph))), 0);
  EXPECT_EQ(b[40 + 12] >> 4, 7);  // doff counts the 8 option bytes
}

TEST(Packet, DamageOverridesOnlyTheNamedField) {
  Bytes b = Packet::ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).ihl(4).total_length(300).l3();
  EXPECT_EQ(b[0], 0x44);
  EXPECT_EQ(b[2] << 8 | b[3], 300);
  EXPECT_EQ(b.size(), 28u);
  EXPECT_EQ(inet_finish(inet_sum({b.data(), 20})), 0);  // checksum still right for the damaged header
  Bytes c = Packet::ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).l4_checksum(0xdead).ip_checksum(0xbeef).l3();
  EXPECT_EQ(c[10] << 8 | c[11], 0xbeef);
  EXPECT_EQ(c[26] << 8 | c[27], 0xdead);
  Bytes d = Packet::ipv6("::1", "::2").udp(1, 2).ip_protocol(253).l3();
  EXPECT_EQ(d[6], 253);
}

TEST(Packet, Truncation) {
  Packet p = Packet::ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2).payload_size(10);
  EXPECT_EQ(p.l3().size(), 50u);
  EXPECT_EQ(Packet(p).truncate(33).l3().size(), 33u);
  EXPECT_EQ(Packet(p).truncate_l4(3).l3().size(), 23u);
  Bytes full = p.l3();
  Bytes cut = Packet(p).truncate(33).l3();
  EXPECT_TRUE(std::equal(cut.begin(), cut.end(), full.begin()));  // cut after checksums
  EXPECT_EQ(Packet(p).trailer({1, 2, 3}).l3().size(), 53u);
}

TEST(Describe, OneLineSummaries) {
  EXPECT_EQ(describe(Packet::ipv4("10.0.0.1", "10.0.0.2").tcp(1234, 22).flags(tcp::kSyn)),
            "ipv4 10.0.0.1>10.0.0.2 tcp 1234>22 S len 40");
  EXPECT_EQ(describe(Packet::ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2).flags(tcp::kSyn | tcp::kAck).ihl(4)),
            "ipv4 10.0.0.1>10.0.0.2 ihl=4! tcp 1>2 SA len 40");
  EXPECT_EQ(describe(Packet::ipv6("2001:db8::1", "2001:db8::2").hop_by_hop().fragment(8, true).udp(53, 53).ether()),
            "eth 02:00:00:00:00:01>02:00:00:00:00:02 ipv6 2001:db8::1>2001:db8::2 hbh frag(off=8,MF) "
            "proto 17 (non-first fragment) len 64");
  EXPECT_EQ(describe(Packet::ipv4("1.2.3.4", "5.6.7.8").udp(1, 2).truncate(25)),
            "ipv4 1.2.3.4>5.6.7.8 totlen=28! udp truncated(5B) len 25");
  EXPECT_EQ(describe(Packet::ipv4("1.2.3.4", "5.6.7.8").l4(253, {1, 2})), "ipv4 1.2.3.4>5.6.7.8 proto 253 len 22");
  EXPECT_EQ(describe(Packet::ipv6("::1", "::2").icmp6(135, 0)), "ipv6 ::1>::2 icmpv6 135/0 len 48");
  EXPECT_EQ(describe(Packet::ipv4("1.2.3.4", "5.6.7.8").fragment(16, false).sctp(1, 2)),
            "ipv4 1.2.3.4>5.6.7.8 frag(off=16) proto 132 (non-first fragment) len 32");
}

}  // namespace
}  // namespace nfbpf::packet
