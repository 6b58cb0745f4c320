#pragma once
// What the reference evaluator knows about a packet besides its bytes: the hook it is seen at and
// the sk_buff metadata nft's meta/ct expressions read. Everything nondeterministic in the kernel
// (clock, random, CPU) is an explicit input here so that a verdict is a pure function.

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "translate/ir/ir.h"

namespace nfbpf::eval {

struct Device {
  std::string name;        // dev->name
  uint32_t ifindex = 0;
  uint16_t type = 1;       // ARPHRD_ETHER
  uint32_t group = 0;
  std::string kind;        // rtnl_link_ops->kind ("veth", "dummy"); empty: no link ops (meta *kind breaks)
};

// A conntrack entry attached to the skb (skb->_nfct). Absent: nft sees "no entry" (ct state
// reads as invalid, or untracked when `untracked` is set; every other ct key breaks the rule).
struct Conntrack {
  uint8_t ctinfo = 2;      // enum ip_conntrack_info: 0 established, 1 related, 2 new, 3 est. reply, 4 rel. reply
  uint32_t status = 0;     // IPS_* bits
  uint32_t mark = 0;
  uint32_t secmark = 0;
  uint16_t zone = 0;
  uint8_t zone_dir = 3;    // NF_CT_ZONE_DIR_ORIG (1) | NF_CT_ZONE_DIR_REPL (2): where the zone applies
  uint8_t l3num = 2;       // NFPROTO_IPV4
  uint8_t protonum = 6;
  uint32_t expires_ms = 0; // jiffies_to_msecs(nf_ct_expires(ct)) at the packet's time
  // Tuples, [0] original and [1] reply: addresses as the 16-byte union nf_inet_addr (an IPv4
  // address in the first 4 bytes, the rest zero), ports in network order.
  struct Tuple {
    std::array<uint8_t, 16> src{}, dst{};
    uint16_t sport_be = 0, dport_be = 0;
  };
  std::array<Tuple, 2> tuple{};
  // The accounting extension (nf_conn_acct): absent reads as 0 for bytes/packets/avgpkt.
  bool acct = false;
  std::array<uint64_t, 2> packets{}, bytes{};  // [original, reply]
  std::array<uint8_t, 16> labels{};            // the labels extension's bits (0: none)
};

// The skb's route (skb_dst) as nft_rt / meta rtclassid read it. Absent: no route (at prerouting
// before the routing decision, unless early demux attached one): those keys break.
struct Route {
  uint32_t tclassid = 0;                        // dst->tclassid (route realms)
  std::optional<std::array<uint8_t, 4>> gw4;    // rtable: rt_gw_family AF_INET -> rt_gw4, else daddr
  std::optional<std::array<uint8_t, 16>> gw6;   // rt6_info: RTF_GATEWAY -> rt6i_gateway, else daddr
  bool xfrm = false;                            // dst->xfrm (rt ipsec exists)
};

struct PacketContext {
  // The protocol family of the hook: kIp or kIp6 for the netfilter hooks (ip/ip6 tables run on
  // their own family, inet tables on both), kNetdev for ingress/egress device hooks (netdev tables,
  // and inet tables with an ingress hook).
  ir::Family family = ir::Family::kIp;
  ir::Hook hook = ir::Hook::kInput;
  std::optional<Device> in, out;
  // skb->dev when it is not what the hook's devices imply (meta iiftype reads it): absent, the
  // input device, else the output device at postrouting/egress. BPF test runs set lo at every hook.
  std::optional<Device> skb_dev;
  // Bytes of link-layer header in front of the L3 header in the packet buffer; 0 = bare L3.
  // At netfilter hooks a link header is readable (ether saddr at input) only when present here;
  // at netdev ingress skb->data is the L3 header, at egress it is the frame start.
  uint32_t l2_len = 0;
  uint32_t mark = 0;
  uint32_t priority = 0;
  uint8_t pkttype = 0;                      // PACKET_HOST
  std::optional<uint16_t> protocol;         // skb->protocol as an ethertype; default: from the L3 version
  std::optional<uint32_t> sk_uid, sk_gid;   // the owning socket; absent: meta skuid/skgid break
  std::optional<uint32_t> cgroup_classid;   // absent: meta cgroup breaks
  uint32_t cpu = 0;
  uint32_t random = 0;                      // meta random
  uint64_t now_ns = 0;                      // virtual clock: limit token buckets, meta time/day/hour (UTC)
  std::optional<Route> route;               // rt classid/nexthop/ipsec, meta rtclassid
  std::optional<Conntrack> ct;
  bool ct_untracked = false;
};

}  // namespace nfbpf::eval
