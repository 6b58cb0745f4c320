#include "nfnl-server/cli/status_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/fd.h"
#include "nfnl-server/daemon/control_wire.h"

namespace nfbpf::cli {

namespace wire = nfnl::wire;

namespace {

constexpr int kReplyTimeoutMs = 10'000;  // a status is built from memory: seconds mean a hung daemon

Result<Fd> connect_daemon(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return failf(ENAMETOOLONG, "socket path {} is too long", path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  Fd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) return fail_errno("socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
    return fail_errno("connecting to nfbpfd at " + path);
  return fd;
}

}  // namespace

std::string default_socket_path() {
  const char* env = std::getenv(wire::kSocketPathEnv);
  return (env && *env) ? env : wire::kDefaultSocketPath;
}

Result<std::string> fetch_status_json(const std::string& socket_path) {
  auto fd = connect_daemon(socket_path);
  if (!fd) return std::unexpected(std::move(fd).error());
  wire::Header req;
  req.kind = static_cast<uint16_t>(wire::Kind::kStatus);
  req.token = 1;
  if (::send(fd->get(), &req, sizeof(req), MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(req)))
    return fail_errno("sending the status request");
  std::string json;
  std::vector<uint8_t> buf(wire::kMaxRecord);
  for (;;) {
    pollfd pfd{fd->get(), POLLIN, 0};
    const int ready = ::poll(&pfd, 1, kReplyTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return fail(ETIMEDOUT, "nfbpfd did not answer the status request");
    const ssize_t n = ::recv(fd->get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno("reading the status reply");
    if (n == 0) return fail(ECONNRESET, "nfbpfd closed the connection");
    wire::Header h;
    if (static_cast<size_t>(n) < sizeof(h)) return fail(EPROTO, "short reply record");
    std::memcpy(&h, buf.data(), sizeof(h));
    if (h.magic != wire::kMagic || h.kind != static_cast<uint16_t>(wire::Kind::kReply) || h.token != req.token ||
        h.payload_len != static_cast<size_t>(n) - sizeof(h))
      return fail(EPROTO, "malformed reply record");
    if (h.status < 0) return fail(-h.status, "nfbpfd refused the status request");
    json.append(reinterpret_cast<const char*>(buf.data() + sizeof(h)), h.payload_len);
    if (!(h.flags & wire::kMore)) return json;
  }
}

}  // namespace nfbpf::cli
