#pragma once
// Well-known fields: names for the (base, offset, length) triples that nft and iptables rules
// use. Translators build fields with these; the printer names fields with them; codegen never
// needs them (it reads by base/offset/len).

#include <optional>
#include <string_view>

#include "translate/ir/ir.h"

namespace nfbpf::ir {

enum class KnownField : uint8_t {
  // meta
  kMetaNfProto, kMetaL4Proto, kMetaProtocol, kMetaMark, kMetaIif, kMetaOif, kMetaIifName,
  kMetaOifName, kMetaLen, kMetaPktType, kMetaIifType, kMetaOifType, kMetaSkUid, kMetaSkGid,
  kMetaCpu, kMetaPriority,
  // IPv4
  kIp4Version, kIp4Dscp, kIp4Length, kIp4Id, kIp4FragOff, kIp4Ttl, kIp4Protocol, kIp4Checksum,
  kIp4Saddr, kIp4Daddr,
  // IPv6
  kIp6Version, kIp6Dscp, kIp6FlowLabel, kIp6Length, kIp6NextHdr, kIp6HopLimit, kIp6Saddr, kIp6Daddr,
  // L4
  kTcpSport, kTcpDport, kTcpSeq, kTcpAck, kTcpDoff, kTcpFlags, kTcpWindow,
  kUdpSport, kUdpDport, kUdpLength,
  kSctpSport, kSctpDport, kSctpVtag,
  kIcmpType, kIcmpCode, kIcmpId, kIcmpSeq, kIcmp6Type, kIcmp6Code,
  // conntrack
  kCtState, kCtStatus, kCtDirection, kCtMark,
  kCount
};

// MetaKey::kXtL4Proto's value when x_tables' IPv6 walk fails (host order, 2 bytes).
inline constexpr uint16_t kXtWalkFailed = 0x100;

struct KnownFieldInfo {
  KnownField id;
  std::string_view name;  // as nft prints it, e.g. "ip saddr"
  Field field;
  std::optional<uint32_t> mask;  // sub-byte fields (dscp, flags): the bits within `field`
};

const KnownFieldInfo& known_field_info(KnownField f);
inline Field known_field(KnownField f) { return known_field_info(f).field; }

// Whether the kernel keeps a meta/ct key as a host-order integer (length, mark, ct state, ...).
// nft converts such keys to network order before ordered and interval compares; the IR records
// that as Field::host_order = false, and loaders then hold the value's bytes swapped.
bool natively_host_order(const Field& f);

// The nft-style name of a field, when it is a well-known one.
std::optional<std::string_view> field_name(const Field& f);

std::string_view to_string(Family f);
std::string_view to_string(Hook h);
std::string_view to_string(ChainType t);
std::string_view to_string(VerdictKind v);
std::string_view to_string(Op o);
std::string_view to_string(MetaKey k);
std::string_view to_string(CtKey k);
std::string_view to_string(ExtHdrOp o);  // "ipv6", "tcpopt", "ipv4", "sctp", "dccp"

}  // namespace nfbpf::ir
