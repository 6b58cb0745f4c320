#include <array>

#include "translate/nft/expr/expr.h"

namespace nfbpf::translate::nft::expr {

namespace {

// Every expression kind kernel 6.18 registers. Order is irrelevant; names are unique.
constexpr std::array kKinds = {
    Kind{"payload", lower_payload, {}},
    Kind{"meta", lower_meta, {}},
    Kind{"ct", lower_ct, {}},
    Kind{"cmp", lower_cmp, {}},
    Kind{"range", lower_range, {}},
    Kind{"bitwise", lower_bitwise, {}},
    Kind{"byteorder", lower_byteorder, {}},
    Kind{"lookup", lower_lookup, {}},
    Kind{"immediate", lower_immediate, {}},
    Kind{"counter", lower_counter, {}},
    Kind{"limit", lower_limit, {}},
    Kind{"quota", lower_quota, {}},
    Kind{"log", lower_log, {}},
    Kind{"objref", lower_objref, {}},
    Kind{"reject", nullptr, "sends ICMP or TCP reset replies, which a BPF netfilter program cannot"},
    Kind{"nat", nullptr, "address translation needs the kernel's conntrack NAT bindings"},
    Kind{"masq", nullptr, "address translation needs the kernel's conntrack NAT bindings"},
    Kind{"redir", nullptr, "address translation needs the kernel's conntrack NAT bindings"},
    Kind{"queue", nullptr, "queues packets to userspace (NFQUEUE)"},
    Kind{"dup", nullptr, "duplicates packets to another destination"},
    Kind{"fwd", nullptr, "forwards packets to another device"},
    Kind{"tproxy", nullptr, "assigns packets to a transparent proxy socket"},
    Kind{"synproxy", nullptr, "answers TCP handshakes on the server's behalf"},
    Kind{"notrack", nullptr, "changes conntrack state"},
    Kind{"flow_offload", nullptr, "adds flows to a flowtable"},
    Kind{"dynset", nullptr, "adds or updates set elements from the packet path (not supported yet)"},
    Kind{"exthdr", lower_exthdr, {}},
    Kind{"fib", nullptr, "route lookups are not supported yet"},
    Kind{"rt", lower_rt, {}},
    Kind{"socket", nullptr, "socket lookups are not supported yet"},
    Kind{"osf", nullptr, "passive OS fingerprinting is not supported"},
    Kind{"xfrm", nullptr, "IPsec state matching is not supported"},
    Kind{"tunnel", nullptr, "tunnel metadata is not supported"},
    Kind{"hash", nullptr, "hashing packet fields is not supported yet"},
    Kind{"numgen", nullptr, "number generators are not supported yet"},
    Kind{"connlimit", nullptr, "connection counting needs conntrack"},
    Kind{"last", nullptr, "last-seen timestamps are not supported yet"},
    Kind{"inner", nullptr, "inner (tunnelled) header matching is not supported"},
    Kind{"match", lower_xt_match, {}},    // iptables-nft: translate/ipt's lowering (expr/xt.cpp)
    Kind{"target", lower_xt_target, {}},
    Kind{"secmark", nullptr, "security marks are not supported"},
};

}  // namespace

const Kind* find_kind(std::string_view name) {
  for (const auto& k : kKinds)
    if (k.name == name) return &k;
  return nullptr;
}

ir::Bytes data_of(const nftnl_expr* e, uint16_t attr) {
  if (!nftnl_expr_is_set(e, attr)) return {};
  uint32_t len = 0;
  const auto* p = static_cast<const uint8_t*>(nftnl_expr_get(e, attr, &len));
  return p ? ir::Bytes(p, p + len) : ir::Bytes{};
}

Result<uint8_t> reg_of(const nftnl_expr* e, uint16_t attr) {
  if (!nftnl_expr_is_set(e, attr)) return failf(EINVAL, "missing register attribute {}", attr);
  return ir_register(nftnl_expr_get_u32(e, attr));
}

}  // namespace nfbpf::translate::nft::expr
