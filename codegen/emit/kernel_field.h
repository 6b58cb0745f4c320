#pragma once
// Fields of kernel structures that generated code reads through BTF pointers (PTR_TO_BTF_ID), e.g.
// a netfilter program's ctx->skb->len. Their offsets differ between kernels, so a load of one is
// emitted with a typed fixup (Program::ldx_field) and resolved from vmlinux BTF at link time
// (kernel::Kernel::btf_member_offset); the disassembly names the field.

#include <array>
#include <cstdint>
#include <string_view>

namespace nfbpf::codegen::emit {

enum class KernelField : uint8_t {
  kSkbLen,            // u32 sk_buff.len
  kSkbDataLen,        // u32 sk_buff.data_len (bytes not in the linear head)
  kSkbData,           // unsigned char *sk_buff.data (read-only untrusted memory in BPF)
  kSkbMark,           // u32 sk_buff.mark
  kSkbPriority,       // u32 sk_buff.priority
  kSkbHash,           // u32 sk_buff.hash
  kSkbSk,             // struct sock *sk_buff.sk
  kSkbDev,            // struct net_device *sk_buff.dev
  kNetDeviceIfindex,  // int net_device.ifindex
  kNetDeviceName,     // char net_device.name[16]
  kNetDeviceType,     // unsigned short net_device.type
  kNetDeviceGroup,    // u32 net_device.group
  kSkbPktTypeOffset,  // u8 sk_buff.__pkt_type_offset[0]: the byte whose low 3 bits (little-endian
                      // bitfield order) are pkt_type, as the kernel's own __sk_buff rewrite reads it
  // meta skuid/skgid/cgroup (codegen/matcher/meta_socket.cpp): skb->sk -> sk_socket -> file -> f_cred
  kSockState,         // u8 sock_common.skc_state (TCP_TIME_WAIT / TCP_NEW_SYN_RECV: not a full socket)
  kSockListener,      // struct sock *sock_common.skc_listener (a request sock's listener)
  kSockNet,           // struct net *sock_common.skc_net (possible_net_t: one pointer)
  kSockSocket,        // struct socket *sock.sk_socket
  kSockCgroupClassid, // u32 sock.sk_cgrp_data.classid (nested member path)
  kSocketFile,        // struct file *socket.file
  kFileCred,          // const struct cred *file.f_cred
  kCredFsuid,         // kuid_t cred.fsuid (one u32)
  kCredFsgid,         // kgid_t cred.fsgid (one u32)
  kNfHookStateNet,    // struct net *nf_hook_state.net
  // ct keys (codegen/matcher/ct.cpp): struct nf_conn behind skb->_nfct (bpf_rdonly_cast)
  kNfConnStatus,      // unsigned long nf_conn.status (nft reads its low 32 bits)
  kNfConnMark,        // u32 nf_conn.mark
  kNfConnSecmark,     // u32 nf_conn.secmark
  kNfConnTimeout,     // u32 nf_conn.timeout (jiffies)
  kNfConnZoneId,      // u16 nf_conn.zone.id
  kNfConnZoneDir,     // u8 nf_conn.zone.dir (NF_CT_ZONE_DIR_ORIG 1 | REPL 2)
  kNfConnL3num,       // u16 original tuple src.l3num (nf_ct_l3num)
  kNfConnProtonum,    // u8 original tuple dst.protonum (nf_ct_protonum)
  kNfConnOrigSrc,     // union nf_inet_addr: original tuple src.u3
  kNfConnOrigDst,     // original tuple dst.u3
  kNfConnOrigSport,   // __be16 original tuple src.u.all
  kNfConnOrigDport,   // __be16 original tuple dst.u.all
  kNfConnReplySrc,    // the reply tuple's (tuplehash[IP_CT_DIR_REPLY]) same four
  kNfConnReplyDst,
  kNfConnReplySport,
  kNfConnReplyDport,
  kNfConnExt,         // struct nf_ct_ext *nf_conn.ext (accounting counters, labels)
  kNfCtExtAcct,       // u8 nf_ct_ext.offset[NF_CT_EXT_ACCT] (3 with NAT built in, as on this project's kernels)
  kNfCtExtLabels,     // u8 nf_ct_ext.offset[NF_CT_EXT_LABELS] (7)
  // log statements (codegen/chain/log.cpp): the linear bytes around the network header
  kSkbHead,           // unsigned char *sk_buff.head
  kSkbTail,           // sk_buff_data_t sk_buff.tail (an offset from head on 64-bit kernels)
  kSkbNetworkHeader,  // u16 sk_buff.network_header (offset from head)
  kSkbMacHeader,      // u16 sk_buff.mac_header (offset from head; 0xffff: not set)
  kNetDeviceHardHeaderLen,  // unsigned short net_device.hard_header_len
  // rt keys (codegen/matcher/meta_route.cpp): skb_dst(skb), cast from the refdst word
  kSkbRefDst,         // unsigned long sk_buff._skb_refdst (dst pointer | SKB_DST_NOREF)
  kDstTclassid,       // u32 dst_entry.tclassid
  kDstXfrm,           // struct xfrm_state *dst_entry.xfrm
  kRtableGwFamily,    // u8 rtable.rt_gw_family
  kRtableGw4,         // __be32 rtable.rt_gw4
  kRt6Flags,          // u32 rt6_info.rt6i_flags
  kRt6Gateway,        // struct in6_addr rt6_info.rt6i_gateway
  kRt6DstAddr,        // struct in6_addr rt6_info.rt6i_dst.addr
  // @ll loads past the MAC addresses (codegen/matcher/load.cpp): the accelerated VLAN tag
  kSkbVlanAll,        // u32 sk_buff.vlan_all (skb_vlan_tag_present: non-zero)
  kSkbVlanProto,      // __be16 sk_buff.vlan_proto
  kSkbVlanTci,        // u16 sk_buff.vlan_tci (host order)
  kSkbProtocol,       // __be16 sk_buff.protocol
  // ct helper (codegen/matcher/ct.cpp): nf_conn_help (first member: the helper pointer) -> name
  kNfCtExtHelper,     // u8 nf_ct_ext.offset[NF_CT_EXT_HELPER] (0)
  kNfCtHelperName,    // char nf_conntrack_helper.name[16]
  kNfConnMaster,      // struct nf_conn *nf_conn.master (an expected connection's master)
  kCount,
};

struct KernelFieldName {
  std::string_view type;
  std::string_view member;
};

inline constexpr std::array<KernelFieldName, static_cast<size_t>(KernelField::kCount)> kKernelFields = {{
    {"sk_buff", "len"},
    {"sk_buff", "data_len"},
    {"sk_buff", "data"},
    {"sk_buff", "mark"},
    {"sk_buff", "priority"},
    {"sk_buff", "hash"},
    {"sk_buff", "sk"},
    {"sk_buff", "dev"},
    {"net_device", "ifindex"},
    {"net_device", "name"},
    {"net_device", "type"},
    {"net_device", "group"},
    {"sk_buff", "__pkt_type_offset"},
    {"sock_common", "skc_state"},
    {"sock_common", "skc_listener"},
    {"sock_common", "skc_net"},
    {"sock", "sk_socket"},
    {"sock", "sk_cgrp_data.classid"},
    {"socket", "file"},
    {"file", "f_cred"},
    {"cred", "fsuid"},
    {"cred", "fsgid"},
    {"nf_hook_state", "net"},
    {"nf_conn", "status"},
    {"nf_conn", "mark"},
    {"nf_conn", "secmark"},
    {"nf_conn", "timeout"},
    {"nf_conn", "zone.id"},
    {"nf_conn", "zone.dir"},
    {"nf_conn", "tuplehash[0].tuple.src.l3num"},
    {"nf_conn", "tuplehash[0].tuple.dst.protonum"},
    {"nf_conn", "tuplehash[0].tuple.src.u3"},
    {"nf_conn", "tuplehash[0].tuple.dst.u3"},
    {"nf_conn", "tuplehash[0].tuple.src.u.all"},
    {"nf_conn", "tuplehash[0].tuple.dst.u.all"},
    {"nf_conn", "tuplehash[1].tuple.src.u3"},
    {"nf_conn", "tuplehash[1].tuple.dst.u3"},
    {"nf_conn", "tuplehash[1].tuple.src.u.all"},
    {"nf_conn", "tuplehash[1].tuple.dst.u.all"},
    {"nf_conn", "ext"},
    {"nf_ct_ext", "offset[3]"},
    {"nf_ct_ext", "offset[7]"},
    {"sk_buff", "head"},
    {"sk_buff", "tail"},
    {"sk_buff", "network_header"},
    {"sk_buff", "mac_header"},
    {"net_device", "hard_header_len"},
    {"sk_buff", "_skb_refdst"},
    {"dst_entry", "tclassid"},
    {"dst_entry", "xfrm"},
    {"rtable", "rt_gw_family"},
    {"rtable", "rt_gw4"},
    {"rt6_info", "rt6i_flags"},
    {"rt6_info", "rt6i_gateway"},
    {"rt6_info", "rt6i_dst.addr"},
    {"sk_buff", "vlan_all"},
    {"sk_buff", "vlan_proto"},
    {"sk_buff", "vlan_tci"},
    {"sk_buff", "protocol"},
    {"nf_ct_ext", "offset[0]"},
    {"nf_conntrack_helper", "name"},
    {"nf_conn", "master"},
}};
static_assert(kKernelFields.size() == static_cast<size_t>(KernelField::kCount));

inline constexpr const KernelFieldName& kernel_field_name(KernelField f) {
  return kKernelFields[static_cast<size_t>(f)];
}

// Kernel struct types whose vmlinux BTF id generated code needs as an immediate (the second
// argument of bpf_rdonly_cast, to read a pointer the verifier only knows as a number, e.g. a union
// member). Emitted with Program::mov_btf_type and resolved at link time like the fields.
enum class KernelType : uint8_t {
  kSock,    // struct sock
  kNfConn,  // struct nf_conn (skb->_nfct & NFCT_PTRMASK)
  kDstEntry,  // struct dst_entry
  kRtable,    // struct rtable
  kRt6Info,   // struct rt6_info
  kNfConntrackHelper,  // struct nf_conntrack_helper (nf_conn_help.helper)
  kCount,
};

inline constexpr std::array<std::string_view, static_cast<size_t>(KernelType::kCount)> kKernelTypes = {{
    "sock",
    "nf_conn",
    "dst_entry",
    "rtable",
    "rt6_info",
    "nf_conntrack_helper",
}};

inline constexpr std::string_view kernel_type_name(KernelType t) { return kKernelTypes[static_cast<size_t>(t)]; }

}  // namespace nfbpf::codegen::emit
