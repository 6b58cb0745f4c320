#pragma once
// The client side of nfbpfd's control connection (daemon/control_wire.h): connect, and one
// synchronous request/reply exchange. Errors are negative errno values: this code runs inside
// arbitrary applications through LD_PRELOAD and reports the way the system calls it replaces do.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "nfnl-server/daemon/control_wire.h"

namespace nfbpf::shim {

namespace wire = nfbpf::nfnl::wire;

// The daemon's socket path: $NFBPF_SOCKET, or the default /run/nfbpf/nfbpf.sock.
std::string daemon_socket_path();

// A new control connection (blocking, close-on-exec) or -errno.
int connect_control(const std::string& path);

struct ControlReply {
  wire::Header header;
  std::vector<uint8_t> payload;
};

// Sends `request` (payload and SCM_RIGHTS fds attached) and, unless `expect_reply` is false,
// waits for the matching kReply. A vanished daemon reads as -ECONNRESET. The header's
// payload_len is filled in here.
int control_send(int control_fd, wire::Header request, std::span<const uint8_t> payload,
                 std::span<const int> fds = {});
int control_receive(int control_fd, uint32_t token, ControlReply& reply);

}  // namespace nfbpf::shim
