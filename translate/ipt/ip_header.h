#pragma once
// The fixed part of an entry (struct ipt_ip / ip6t_ip6) as IR matches: ip_packet_match() and
// ip6_packet_match() in the kernel's order, each test with `ne` when its inversion flag is set.

#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include "common/result.h"
#include "translate/ipt/extension.h"

namespace nfbpf::translate::ipt {

Result<void> lower_ip_header(const ipt_ip& ip, std::vector<ir::Step>& steps, const EntryContext& ctx);
Result<void> lower_ip_header(const ip6t_ip6& ip, std::vector<ir::Step>& steps, const EntryContext& ctx);

// x_tables' IPv6 walk (ctx.xt6_walk): the protocol field ip6_packet_match's -p reads
// (MetaKey::kXtL4Proto), and the test that holds when that walk failed — ip6_packet_match then
// drops the packet (hotdrop) once the entry's address and interface tests held.
ir::Field xt6_l4proto_field();
ir::Match xt6_walk_failed();

}  // namespace nfbpf::translate::ipt
