// icmp (ip_tables.c icmp_match) and icmp6 (ip6_tables.c icmp6_match): type 0xFF is any type;
// otherwise type == T and min <= code <= max, xor the inversion. Type and code are adjacent
// bytes, so the test is one range over the 16-bit (type << 8 | code).
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include "translate/ipt/extension.h"

namespace nfbpf::translate::ipt {

namespace {

Result<void> lower_type_code(uint8_t type, uint8_t code_lo, uint8_t code_hi, bool invert, ir::Proto proto, EntryOut& out,
                             const EntryContext& ctx) {
  // Both reject non-first fragments and headers shorter than 8 bytes (struct icmphdr/icmp6hdr).
  out.steps.push_back(util::l4_header_present(8, proto, ctx));
  const ir::Field f = util::transport_field(0, 2, proto, ctx);
  if (type == 0xff) {
    if (invert)  // "! any type": never holds
      out.steps.push_back(ir::Match{.key = {f}, .mask = ir::Bytes{0, 0}, .op = ir::Op::kNe, .value = {0, 0}});
    return {};
  }
  ir::Bytes lo{type, code_lo}, hi{type, code_hi};
  if (code_lo == code_hi)
    out.steps.push_back(ir::Match{.key = {f}, .op = invert ? ir::Op::kNe : ir::Op::kEq, .value = lo});
  else
    out.steps.push_back(ir::Match{.key = {f}, .op = invert ? ir::Op::kNotRange : ir::Op::kRange, .value = lo, .value_hi = hi});
  return {};
}

}  // namespace

Result<void> lower_icmp(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  auto info = data_as<ipt_icmp>(x, ctx);
  if (!info) return std::unexpected(info.error());
  return lower_type_code(info->type, info->code[0], info->code[1], info->invflags & IPT_ICMP_INV, ir::Proto::kIcmp, out, ctx);
}

Result<void> lower_icmp6(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  auto info = data_as<ip6t_icmp>(x, ctx);
  if (!info) return std::unexpected(info.error());
  return lower_type_code(info->type, info->code[0], info->code[1], info->invflags & IP6T_ICMP_INV, ir::Proto::kIcmp6, out, ctx);
}

}  // namespace nfbpf::translate::ipt
