// The nf_log line for records built from real frames, against lines written out by hand from
// nf_log_syslog.c's format strings (the kernel logs nothing from a non-initial netns by default,
// so it cannot be asked here).
#include "nfnl-server/offload/nf_log_format.h"

#include <gtest/gtest.h>

#include <cstring>

#include "common/packet/packet.h"

namespace nfbpf::offload {
namespace {

namespace abi = codegen::abi;

abi::LogEvent record(const std::vector<uint8_t>& l3, const char* prefix, uint16_t flags, bool in = true) {
  abi::LogEvent e{};
  e.magic = abi::kLogEventMagic;
  e.level = 4;
  e.flags = flags;
  e.prefix_len = static_cast<uint16_t>(std::strlen(prefix));
  std::memcpy(e.prefix, prefix, e.prefix_len);
  e.skb_len = static_cast<uint32_t>(l3.size());
  e.data_len = static_cast<uint16_t>(std::min<size_t>(l3.size(), abi::kLogDataMax));
  std::memcpy(e.data, l3.data(), e.data_len);
  e.pf = (l3[0] >> 4) == 6 ? 10 : 2;
  if (in) {
    e.have_in = 1;
    std::strcpy(e.in_name, "vb");
    e.in_type = 1;
    e.mac_len = 14;
    e.mac_hdr_len = 14;
    uint8_t mac[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00};
    if (e.pf == 10) mac[12] = 0x86, mac[13] = 0xdd;
    std::memcpy(e.mac, mac, 14);
  }
  return e;
}

TEST(NfLogFormat, Ipv4TcpSynAtInput) {
  auto p = packet::Packet::ipv4("10.0.0.1", "10.0.0.2");
  p.tcp(40000, 22).flags(0x02);
  auto e = record(p.bytes(), "nft-test: ", 0);
  std::string got = format_nf_log(e);
  EXPECT_EQ(got.substr(0, got.find(" TTL=")),
            "nft-test: IN=vb OUT= MAC=02:00:00:00:00:02:02:00:00:00:00:01:08:00 SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=0x00 PREC=0x00");
  EXPECT_NE(got.find(" PROTO=TCP SPT=40000 DPT=22 WINDOW="), std::string::npos) << got;
  EXPECT_NE(got.find(" RES=0x00 SYN URGP=0 "), std::string::npos) << got;
  EXPECT_EQ(got.back(), ' ');
  EXPECT_EQ(got.find("SEQ="), std::string::npos);
}

TEST(NfLogFormat, FlagsSeqOptionsUidMarkAndMacDecode) {
  auto p = packet::Packet::ipv4("10.0.0.1", "10.0.0.2");
  p.tcp(1, 2).flags(0x12);
  auto bytes = p.bytes();
  bytes[1] = 0xb8;                                         // TOS 0xb8: TOS=0x18 PREC=0xA0
  bytes[24] = 0, bytes[25] = 0, bytes[26] = 0, bytes[27] = 7;  // seq 7
  auto e = record(bytes, "", abi::kLogTcpSeq | abi::kLogUid | abi::kLogMacDecode);
  e.have_uid = 1;
  e.uid = 1234;
  e.gid = 4321;
  e.mark = 0x2a;
  std::string got = format_nf_log(e);
  EXPECT_EQ(got.substr(0, 71), "IN=vb OUT= MACSRC=02:00:00:00:00:01 MACDST=02:00:00:00:00:02 MACPROTO=0") << got;
  EXPECT_NE(got.find("MACPROTO=0800 SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=0x18 PREC=0xA0 "), std::string::npos) << got;
  EXPECT_NE(got.find(" SPT=1 DPT=2 SEQ=7 ACK="), std::string::npos) << got;
  EXPECT_NE(got.find(" ACK SYN URGP=0 UID=1234 GID=4321 MARK=0x2a "), std::string::npos) << got;
  EXPECT_EQ(got.substr(got.size() - 10), "MARK=0x2a ");
}

TEST(NfLogFormat, Ipv6UdpAtOutputHasNoMac) {
  auto p = packet::Packet::ipv6("2001:db8::1", "2001:db8::2");
  p.udp(5353, 53).payload(std::vector<uint8_t>(8, 0x78));
  abi::LogEvent e = record(p.bytes(), "p ", 0, false);
  e.have_out = 1;
  std::strcpy(e.out_name, "va");
  std::string got = format_nf_log(e);
  EXPECT_EQ(got.substr(0, got.find(" HOPLIMIT=")),
            "p IN= OUT=va SRC=2001:0db8:0000:0000:0000:0000:0000:0001 DST=2001:0db8:0000:0000:0000:0000:0000:0002 "
            "LEN=56 TC=0");
  EXPECT_NE(got.find(" FLOWLBL=0 PROTO=UDP SPT=5353 DPT=53 LEN=16 "), std::string::npos) << got;
}

TEST(NfLogFormat, IcmpEchoAndTruncation) {
  auto p = packet::Packet::ipv4("10.0.0.1", "10.0.0.2");
  p.icmp(8, 0);
  auto e = record(p.bytes(), "", 0);
  std::string got = format_nf_log(e);
  EXPECT_NE(got.find(" PROTO=ICMP TYPE=8 CODE=0 ID="), std::string::npos) << got;
  e.data_len = 10;  // not even an IP header captured
  EXPECT_EQ(format_nf_log(e).substr(format_nf_log(e).size() - 9), "TRUNCATED");
}

}  // namespace
}  // namespace nfbpf::offload
