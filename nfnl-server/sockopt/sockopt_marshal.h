#pragma once
// The application side of an x_tables sockopt carried to nfbpfd: which bytes of the caller's
// buffer travel to the handler, and how the answer is written back into the caller's memory the
// way the kernel writes it. Shared by the shim (which must not depend on anything but libc) and
// the tests that drive the handler in-process, so both exercise the same marshalling.

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "nfnl-server/sockopt/xt_layout.h"

namespace nfbpf::nfnl::sockopt::marshal {

// kIptSockopt optname meaning "the content of /proc/net/ip{,6}_tables_names".
inline constexpr int kProcNames = -1;

// Every get request's header (GET_INFO 84, GET_ENTRIES 40, GET_REVISION_* 30 bytes) fits.
inline constexpr size_t kGetInputMax = 256;
// Larger than any table xt_alloc_table_info accepts: such a SET_REPLACE is refused (ENOMEM)
// from its header alone, so the entries are not read.
inline constexpr size_t kMaxReplaceBody = size_t{512} << 20;

// getsockopt: the bytes of the caller's buffer the handler reads.
inline std::span<const uint8_t> get_input(const void* buf, int optlen) {
  if (!buf || optlen <= 0) return {};
  return {static_cast<const uint8_t*>(buf), std::min<size_t>(static_cast<size_t>(optlen),
                                                             kGetInputMax)};
}

// setsockopt: the optlen bytes of the caller's buffer; for SET_REPLACE no more than the header
// and the `size` bytes of entries it announces (the kernel reads nothing past them, and refuses
// an optlen shorter than them).
inline std::span<const uint8_t> set_input(int optname, const void* buf, unsigned optlen) {
  if (!buf) return {};
  const auto* p = static_cast<const uint8_t*>(buf);
  if (optname == IPT_SO_SET_REPLACE && optlen >= sizeof(ipt_replace)) {
    const auto repl = load<ipt_replace>(p);  // ipt_replace and ip6t_replace share the layout
    const size_t wanted = sizeof(ipt_replace) + (repl.size < kMaxReplaceBody ? repl.size : 0);
    return {p, std::min<size_t>(optlen, wanted)};
  }
  return {p, optlen};
}

// getsockopt answer: `data` lands at `offset` in the caller's buffer (never past its optlen).
inline void apply_get(void* buf, int optlen, uint32_t offset, std::span<const uint8_t> data) {
  if (!buf || data.empty() || optlen <= 0 || offset >= static_cast<unsigned>(optlen)) return;
  const size_t n = std::min<size_t>(data.size(), static_cast<size_t>(optlen) - offset);
  std::memcpy(static_cast<uint8_t*>(buf) + offset, data.data(), n);
}

// SET_REPLACE answer: the old counters go where repl->counters points, as __do_replace's
// copy_to_user does (its failure is silent there too).
inline void apply_replace(const void* buf, std::span<const uint8_t> counters) {
  if (!buf || counters.empty()) return;
  const auto repl = load<ipt_replace>(static_cast<const uint8_t*>(buf));
  if (repl.counters) std::memcpy(repl.counters, counters.data(), counters.size());
}

}  // namespace nfbpf::nfnl::sockopt::marshal
