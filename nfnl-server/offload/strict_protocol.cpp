// nfnl::make_protocol() for a daemon that always offloads (--offload=strict without the option):
// linked into the test daemon nfbpfd_offload (daemon/main.cpp) until nfbpfd itself takes
// --offload (see docs/offload.md, "Wiring").
#include "nfnl-server/offload/make_commit_hook.h"

namespace nfbpf::nfnl {

std::unique_ptr<NetlinkProtocol> make_protocol() {
  return offload::make_offload_protocol(offload::OffloadMode::kStrict);
}

}  // namespace nfbpf::nfnl
