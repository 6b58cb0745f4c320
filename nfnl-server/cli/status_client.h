#pragma once
// The client half of wire::Kind::kStatus: one request on a fresh control connection to nfbpfd,
// the JSON text of the reply (reassembled from its kMore chunks).

#include <string>

#include "common/result.h"

namespace nfbpf::cli {

// NFBPF_SOCKET, else the default socket path (as nfbpf-run and the shim).
std::string default_socket_path();

// ECONNREFUSED/ENOENT: no daemon there; EPERM: the caller lacks CAP_NET_ADMIN; EOPNOTSUPP: the
// daemon predates `nfbpf status`.
Result<std::string> fetch_status_json(const std::string& socket_path);

}  // namespace nfbpf::cli
