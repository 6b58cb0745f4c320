// nfbpfd's protocol entry point (see netlink/endpoint.h): nf_tables with the accept-all commit
// hook until a backend hook is wired in (make_nftables_protocol(std::make_unique<Hook>())).
#include "nfnl-server/nftables/kernel_caps.h"
#include "nfnl-server/nftables/protocol.h"

namespace nfbpf::nfnl {

std::unique_ptr<NetlinkProtocol> make_protocol() {
  // Ask the kernel what it lacks now, at start, rather than on the first rule (~0.1 s).
  nftables::kernel_caps();
  return nftables::make_nftables_protocol();
}

}  // namespace nfbpf::nfnl
