#include "nfnl-server/cli/verify/ipt_probes.h"

#include <net/if.h>  // before the linux/ headers (linux/if.h would clash with it)
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <span>

#include "common/fd.h"
#include "translate/ipt/lower.h"
#include "translate/passes/pipeline.h"

namespace nfbpf::verify {

Result<std::vector<ProbeFrame>> xt_table_probes(bool v6, const std::string& table, const ProbeRequest& req) {
  if (table.empty() || table.size() >= XT_TABLE_MAXNAMELEN) return failf(EINVAL, "table name '{}'", table);
  Fd fd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
  if (!fd.valid()) return fail_errno("raw socket for x_tables sockopts");
  const int level = v6 ? SOL_IPV6 : SOL_IP;
  // ipt_getinfo / ipt_get_entries and their ip6t twins have the same layout.
  ipt_getinfo info{};
  std::strcpy(info.name, table.c_str());
  socklen_t len = sizeof(info);
  if (::getsockopt(fd.get(), level, v6 ? IP6T_SO_GET_INFO : IPT_SO_GET_INFO, &info, &len) != 0)
    return fail_errno("GET_INFO " + table);
  std::vector<uint8_t> buf(sizeof(ipt_get_entries) + info.size);
  auto* get = reinterpret_cast<ipt_get_entries*>(buf.data());
  std::strcpy(get->name, table.c_str());
  get->size = info.size;
  len = static_cast<socklen_t>(buf.size());
  if (::getsockopt(fd.get(), level, v6 ? IP6T_SO_GET_ENTRIES : IPT_SO_GET_ENTRIES, buf.data(), &len) != 0)
    return fail_errno("GET_ENTRIES " + table);

  translate::ipt::IptTableBlob blob{.family = v6 ? AF_INET6 : AF_INET, .table = table, .valid_hooks = info.valid_hooks,
                                    .entries = std::span<const uint8_t>(buf).subspan(sizeof(ipt_get_entries), info.size)};
  for (size_t h = 0; h < blob.hook_entry.size(); ++h) {
    blob.hook_entry[h] = info.hook_entry[h];
    blob.underflow[h] = info.underflow[h];
  }
  auto lowered = translate::ipt::lower_ipt_table(blob);
  if (!lowered) return std::unexpected(std::move(lowered).error());
  NFBPF_TRYV(translate::passes::run_pipeline(*lowered));
  return table_probes(*lowered, req);
}

}  // namespace nfbpf::verify
