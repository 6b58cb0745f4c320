#include "nfnl-server/compat/compat_get.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <string>

#include "nfnl-server/nftables/msg_writer.h"
#include "nfnl-server/sockopt/extensions.h"

namespace nfbpf::nfnl::compat {
namespace {

using nftables::NlaPolicy;
using nftables::NlaType;

// nfnl_compat_policy_get. NFTA_COMPAT_REV is NLA_POLICY_MAX(NLA_BE32, 255): the length is
// checked by the table, the maximum below.
constexpr std::array<NlaPolicy, NFTA_COMPAT_MAX + 1> kGetPolicy = {{
    {},
    {NlaType::kNulString, NFT_COMPAT_NAME_MAX - 1},
    {NlaType::kU32, 0},
    {NlaType::kU32, 0},
}};

constexpr size_t kMinLen = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));

}  // namespace

Result<std::vector<Message>> handle_compat_request(std::span<const uint8_t> msg, uint32_t portid,
                                                   const NlaPolicy** failed_policy) {
  nlmsghdr h{};
  std::memcpy(&h, msg.data(), sizeof(h));
  // nfnetlink_find_client(): the subsystem has one callback, NFNL_MSG_COMPAT_GET.
  if (NFNL_MSG_TYPE(h.nlmsg_type) != NFNL_MSG_COMPAT_GET) return fail(EINVAL, "");
  if (h.nlmsg_len < kMinLen) return fail(EINVAL, "");
  const uint8_t family = msg[NLMSG_HDRLEN];
  // nla_parse_deprecated(): liberal, as nfnetlink_rcv_msg parses every subsystem.
  auto tb = nftables::parse_attrs(msg.subspan(kMinLen), uint32_t(kMinLen), kGetPolicy, false,
                                  failed_policy);
  if (!tb) return std::unexpected(std::move(tb).error());
  if (const nftables::Attr* rev = (*tb)[NFTA_COMPAT_REV]; rev && rev->be32() > 255) {
    Error e(ERANGE, "integer out of range");
    e.bad_attr = rev->offset;
    return std::unexpected(std::move(e));
  }
  const nftables::Attr* name = (*tb)[NFTA_COMPAT_NAME];
  const nftables::Attr* rev = (*tb)[NFTA_COMPAT_REV];
  const nftables::Attr* type = (*tb)[NFTA_COMPAT_TYPE];
  if (!name || !rev || !type) return fail(EINVAL, "");
  // The kernel hands nla_data() to strcmp: the name ends at its first NUL.
  const std::string n(reinterpret_cast<const char*>(name->payload.data()),
                      strnlen(reinterpret_cast<const char*>(name->payload.data()),
                              name->payload.size()));
  const uint32_t target = type->be32();
  switch (family) {
    case AF_INET:
    case AF_INET6:
      break;
    case NFPROTO_BRIDGE:
    case NFPROTO_ARP:
      // ebtables/arptables extensions are not emulated: as a kernel without their modules.
      return fail(ENOENT, "");
    default:
      return fail(EINVAL, "");
  }
  // xt_find_revision(): TYPE 1 is a target, anything else a match.
  const auto kind = target == 1 ? nfnl::sockopt::ExtKind::kTarget : nfnl::sockopt::ExtKind::kMatch;
  const int best = nfnl::sockopt::best_revision(kind, family, n, uint8_t(rev->be32()));
  if (best < 0) return fail(-best, "");

  // nfnl_compat_fill_info(): the name asked for, the best revision, the type echoed.
  nftables::MsgWriter w(uint16_t((NFNL_SUBSYS_NFT_COMPAT << 8) | NFNL_MSG_COMPAT_GET),
                        portid ? NLM_F_MULTI : 0, h.nlmsg_seq, portid, family, 0);
  w.put_str(NFTA_COMPAT_NAME, n);
  w.put_be32(NFTA_COMPAT_REV, uint32_t(best));
  w.put_be32(NFTA_COMPAT_TYPE, target);
  std::vector<Message> out;
  out.push_back(w.finish());
  return out;
}

}  // namespace nfbpf::nfnl::compat
