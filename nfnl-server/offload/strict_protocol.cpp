// nfnl::make_protocol() for a daemon that always offloads (--offload=strict without the option):
// linked into the test daemon nfbpfd_offload (daemon/main.cpp) until nfbpfd itself takes
// --offload (see docs/offload.md, "Wiring").
#include "nfnl-server/nftables/protocol.h"
#include "nfnl-server/offload/make_commit_hook.h"

namespace nfbpf::nfnl {

std::unique_ptr<NetlinkProtocol> make_protocol() {
  return nftables::make_nftables_protocol(offload::make_commit_hook(offload::OffloadMode::kStrict));
}

}  // namespace nfbpf::nfnl
