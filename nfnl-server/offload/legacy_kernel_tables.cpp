#include "nfnl-server/offload/legacy_kernel_tables.h"

#include <sys/socket.h>

#include <cstring>

#include "common/fd.h"
#include "nfnl-server/sockopt/initial_tables.h"
#include "nfnl-server/sockopt/xt_layout.h"

namespace nfbpf::offload {

namespace so = nfnl::sockopt;

namespace {

// What SET_REPLACE needs besides the entries.
struct Header {
  std::string name;
  uint32_t valid_hooks = 0;
  uint32_t num_entries = 0;
  std::array<uint32_t, so::kNumHooks> hook_entry{};
  std::array<uint32_t, so::kNumHooks> underflow{};
};

template <typename F>
Result<Fd> open_socket() {
  // The same socket iptables-legacy opens: its sockopts reach this namespace's x_tables.
  Fd s(::socket(F::kFamily, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
  if (!s) return fail_errno(fmt::format("{}tables: raw socket", F::kPrefix));
  return s;
}

template <typename F>
Result<typename F::GetInfo> get_info(const Fd& s, const std::string& name) {
  typename F::GetInfo gi{};
  std::strncpy(gi.name, name.c_str(), sizeof(gi.name) - 1);
  socklen_t len = sizeof(gi);
  if (::getsockopt(s.get(), F::kLevel, IPT_SO_GET_INFO, &gi, &len) != 0)
    return fail_errno(fmt::format("{}tables: kernel GET_INFO of '{}'", F::kPrefix, name));
  return gi;
}

template <typename F>
Result<std::vector<xt_counters>> replace_in_kernel(const Header& h, std::span<const uint8_t> entries) {
  auto s = open_socket<F>();
  if (!s) return std::unexpected(std::move(s).error());
  // The kernel takes the replace only when num_counters is its current table's entry count.
  auto gi = get_info<F>(*s, h.name);
  if (!gi) return std::unexpected(std::move(gi).error());
  std::vector<xt_counters> old(gi->num_entries);
  using Replace = typename F::Replace;
  std::vector<uint8_t> buf(sizeof(Replace) + entries.size());
  Replace r{};
  std::strncpy(r.name, h.name.c_str(), sizeof(r.name) - 1);
  r.valid_hooks = h.valid_hooks;
  r.num_entries = h.num_entries;
  r.size = static_cast<unsigned>(entries.size());
  for (unsigned i = 0; i < so::kNumHooks; ++i) {
    r.hook_entry[i] = h.hook_entry[i];
    r.underflow[i] = h.underflow[i];
  }
  r.num_counters = gi->num_entries;
  r.counters = old.data();
  std::memcpy(buf.data(), &r, sizeof(r));
  std::memcpy(buf.data() + sizeof(Replace), entries.data(), entries.size());
  if (::setsockopt(s->get(), F::kLevel, IPT_SO_SET_REPLACE, buf.data(), static_cast<socklen_t>(buf.size())) != 0)
    return fail_errno(fmt::format("{}tables: kernel SET_REPLACE of '{}'", F::kPrefix, h.name));
  return old;
}

template <typename F>
Result<std::vector<xt_counters>> read_counters(const std::string& name) {
  auto s = open_socket<F>();
  if (!s) return std::unexpected(std::move(s).error());
  auto gi = get_info<F>(*s, name);
  if (!gi) return std::unexpected(std::move(gi).error());
  using GetEntries = typename F::GetEntries;
  std::vector<uint8_t> buf(sizeof(GetEntries) + gi->size);
  GetEntries ge{};
  std::strncpy(ge.name, name.c_str(), sizeof(ge.name) - 1);
  ge.size = gi->size;
  std::memcpy(buf.data(), &ge, sizeof(ge));
  socklen_t len = static_cast<socklen_t>(buf.size());
  if (::getsockopt(s->get(), F::kLevel, IPT_SO_GET_ENTRIES, buf.data(), &len) != 0)
    return fail_errno(fmt::format("{}tables: kernel GET_ENTRIES of '{}'", F::kPrefix, name));
  std::vector<xt_counters> out;
  out.reserve(gi->num_entries);
  const uint8_t* base = buf.data() + sizeof(GetEntries);
  using Entry = typename F::Entry;
  for (size_t off = 0; off + sizeof(Entry) <= gi->size && out.size() < gi->num_entries;) {
    out.push_back(so::load<xt_counters>(base + off + offsetof(Entry, counters)));
    const auto next = so::load<uint16_t>(base + off + offsetof(Entry, next_offset));
    if (next == 0) break;
    off += next;
  }
  return out;
}

Header header_of(const so::XtTable& t) {
  Header h{.name = t.name, .valid_hooks = t.valid_hooks, .num_entries = t.info.number};
  for (unsigned i = 0; i < so::kNumHooks; ++i) {
    h.hook_entry[i] = t.info.hook_entry[i];
    h.underflow[i] = t.info.underflow[i];
  }
  return h;
}

template <typename F>
Result<std::vector<xt_counters>> empty_in_kernel(const std::string& name) {
  for (const so::BuiltinTable& b : so::builtin_tables()) {
    if (b.name != name) continue;
    so::ReplaceHeader rh;
    const std::vector<uint8_t> blob = so::initial_blob<F>(b, rh);
    Header h{.name = name, .valid_hooks = rh.valid_hooks, .num_entries = rh.num_entries};
    h.hook_entry = rh.hook_entry;
    h.underflow = rh.underflow;
    return replace_in_kernel<F>(h, blob);
  }
  return failf(EINVAL, "{}tables: '{}' is no built-in table", F::kPrefix, name);
}

}  // namespace

Result<std::vector<xt_counters>> LegacyKernelTables::replace(int family, const so::XtTable& t) {
  const Header h = header_of(t);
  if (family == AF_INET6) return replace_in_kernel<so::Ipv6>(h, t.info.entries);
  return replace_in_kernel<so::Ipv4>(h, t.info.entries);
}

Result<std::vector<xt_counters>> LegacyKernelTables::empty(int family, const std::string& name) {
  if (family == AF_INET6) return empty_in_kernel<so::Ipv6>(name);
  return empty_in_kernel<so::Ipv4>(name);
}

Result<std::vector<xt_counters>> LegacyKernelTables::counters(int family, const std::string& name) {
  if (family == AF_INET6) return read_counters<so::Ipv6>(name);
  return read_counters<so::Ipv4>(name);
}

}  // namespace nfbpf::offload
