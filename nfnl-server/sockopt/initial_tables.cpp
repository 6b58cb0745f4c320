#include "nfnl-server/sockopt/initial_tables.h"

#include <array>
#include <bit>
#include <cstring>

namespace nfbpf::nfnl::sockopt {

namespace {

constexpr uint32_t hook(unsigned h) { return 1u << h; }

// iptable_*.c / ip6table_*.c *_VALID_HOOKS.
constexpr std::array kBuiltins = {
    BuiltinTable{"filter", hook(NF_INET_LOCAL_IN) | hook(NF_INET_FORWARD) | hook(NF_INET_LOCAL_OUT)},
    BuiltinTable{"mangle", hook(NF_INET_PRE_ROUTING) | hook(NF_INET_LOCAL_IN) |
                               hook(NF_INET_FORWARD) | hook(NF_INET_LOCAL_OUT) |
                               hook(NF_INET_POST_ROUTING)},
    BuiltinTable{"raw", hook(NF_INET_PRE_ROUTING) | hook(NF_INET_LOCAL_OUT)},
    BuiltinTable{"security",
                 hook(NF_INET_LOCAL_IN) | hook(NF_INET_FORWARD) | hook(NF_INET_LOCAL_OUT)},
    BuiltinTable{"nat", hook(NF_INET_PRE_ROUTING) | hook(NF_INET_LOCAL_IN) |
                            hook(NF_INET_LOCAL_OUT) | hook(NF_INET_POST_ROUTING)},
};

template <typename F>
void put_standard(uint8_t* p, int verdict) {
  using E = typename F::Entry;
  store<uint16_t>(p + offsetof(E, target_offset), sizeof(E));
  store<uint16_t>(p + offsetof(E, next_offset), sizeof(E) + sizeof(xt_standard_target));
  uint8_t* t = p + sizeof(E);
  store<uint16_t>(t, xt_align(sizeof(xt_standard_target)));
  store<int>(t + sizeof(xt_entry_target), verdict);
}

template <typename F>
void put_error(uint8_t* p) {
  using E = typename F::Entry;
  store<uint16_t>(p + offsetof(E, target_offset), sizeof(E));
  store<uint16_t>(p + offsetof(E, next_offset), sizeof(E) + sizeof(xt_error_target));
  uint8_t* t = p + sizeof(E);
  store<uint16_t>(t, xt_align(sizeof(xt_error_target)));
  std::memcpy(t + offsetof(xt_entry_target, u.user.name), XT_ERROR_TARGET, sizeof(XT_ERROR_TARGET));
  std::memcpy(t + sizeof(xt_entry_target), XT_ERROR_TARGET, sizeof(XT_ERROR_TARGET));
}

}  // namespace

std::span<const BuiltinTable> builtin_tables() { return kBuiltins; }

template <typename F>
std::vector<uint8_t> initial_blob(const BuiltinTable& table, ReplaceHeader& header) {
  constexpr size_t kStandard = sizeof(typename F::Entry) + sizeof(xt_standard_target);
  constexpr size_t kError = sizeof(typename F::Entry) + sizeof(xt_error_target);
  const unsigned nhooks = static_cast<unsigned>(std::popcount(table.valid_hooks));
  header = ReplaceHeader{};
  header.table = table.name;
  header.valid_hooks = table.valid_hooks;
  header.num_entries = nhooks + 1;
  header.size = static_cast<uint32_t>(nhooks * kStandard + kError);
  std::vector<uint8_t> blob(header.size, 0);
  uint32_t bytes = 0;
  for (unsigned h = 0; h < kNumHooks; ++h) {
    if (!(table.valid_hooks & (1u << h))) continue;
    header.hook_entry[h] = bytes;
    header.underflow[h] = bytes;
    // iptable_filter's "forward" parameter defaults to true: every policy starts as ACCEPT.
    put_standard<F>(blob.data() + bytes, -NF_ACCEPT - 1);
    bytes += kStandard;
  }
  put_error<F>(blob.data() + bytes);
  return blob;
}

template std::vector<uint8_t> initial_blob<Ipv4>(const BuiltinTable&, ReplaceHeader&);
template std::vector<uint8_t> initial_blob<Ipv6>(const BuiltinTable&, ReplaceHeader&);

}  // namespace nfbpf::nfnl::sockopt
