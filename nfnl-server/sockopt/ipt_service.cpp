#include "nfnl-server/sockopt/ipt_service.h"

#include <cerrno>

namespace nfbpf::nfnl::sockopt {

SockoptAnswer serve(IptSockopts& tables, const IptRequest& req) {
  if (req.family != AF_INET && req.family != AF_INET6) return {-EAFNOSUPPORT, 0, {}};
  XtTables& t = tables.family(req.family);
  if (req.optname == kProcNames && !req.set) {
    const std::string names = t.proc_names();
    return {0, 0, std::vector<uint8_t>(names.begin(), names.end())};
  }
  const int level = req.family == AF_INET6 ? SOL_IPV6 : SOL_IP;
  if (!is_xt_sockopt(req.family, level, req.optname, req.set)) return {-ENOPROTOOPT, 0, {}};
  if (req.set) return t.set(req.optname, req.payload, static_cast<unsigned>(req.optlen));
  return t.get(req.optname, req.payload, req.optlen);
}

}  // namespace nfbpf::nfnl::sockopt
