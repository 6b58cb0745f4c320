#include "nfnl-server/sockopt/xt_tables.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "common/log.h"
#include "nfnl-server/sockopt/extensions.h"
#include "nfnl-server/sockopt/initial_tables.h"

namespace nfbpf::nfnl::sockopt {

namespace {

constexpr size_t kMaxTableSize = size_t{512} << 20;  // XT_MAX_TABLE_SIZE
// xt_alloc_table_info refuses sizeof(struct xt_table_info) + size >= XT_MAX_TABLE_SIZE;
// that struct is 64 bytes on x86-64 (before its flexible entries).
constexpr size_t kTableInfoHeader = 64;

SockoptAnswer error(int err) { return SockoptAnswer{-err, 0, {}}; }

// A table name from a request: XT_TABLE_MAXNAMELEN bytes, the last forced to NUL.
std::string_view table_name(std::span<const uint8_t> in) {
  const char* p = reinterpret_cast<const char*>(in.data());
  return {p, strnlen(p, std::min<size_t>(in.size(), XT_TABLE_MAXNAMELEN - 1))};
}

template <typename F>
Result<TableInfo> translate(const ReplaceHeader& h, std::span<const uint8_t> blob) {
  return translate_table<F>(h, blob);
}

template <typename F>
XtTable make_builtin(const BuiltinTable& b) {
  ReplaceHeader h;
  std::vector<uint8_t> blob = initial_blob<F>(b, h);
  auto info = translate_table<F>(h, blob);
  XtTable t;
  t.name = std::string(b.name);
  t.valid_hooks = b.valid_hooks;
  t.info = std::move(*info);  // the built-in tables are valid by construction (tested)
  t.counters.assign(t.info.number, xt_counters{});
  t.initial_entries = t.info.number;
  return t;
}

// copy_entries_to_user: the entry header with the summed counters, then each match and the
// target as xt_match_to_user/xt_target_to_user write them (size, name up to its NUL, revision,
// data, alignment padding cleared). Bytes the kernel leaves untouched (the rest of a name) are
// zero here; libiptc never reads them.
template <typename F>
std::vector<uint8_t> to_user(const XtTable& t, const std::vector<xt_counters>& counters) {
  using E = typename F::Entry;
  std::vector<uint8_t> out = t.info.entries;
  auto normalize_ext = [&](uint8_t* hdr, size_t hdr_size, const Extension* ext) {
    char* name = reinterpret_cast<char*>(hdr + offsetof(xt_entry_match, u.user.name));
    const size_t len = strnlen(name, XT_EXTENSION_MAXNAMELEN);
    if (len < XT_EXTENSION_MAXNAMELEN) std::memset(name + len, 0, XT_EXTENSION_MAXNAMELEN - len);
    if (ext && ext->size >= 0) {
      // xt_data_to_user: the first usersize bytes (all of size without one), then zeros to
      // the aligned size (a usersize below size hides kernel pointers and private state).
      const size_t size = static_cast<size_t>(ext->usersize ? ext->usersize : ext->size);
      const size_t aligned = xt_align(static_cast<size_t>(ext->size));
      std::memset(hdr + hdr_size + size, 0, aligned - size);
    }
  };
  for (size_t i = 0; i < t.info.offsets.size(); ++i) {
    uint8_t* e = out.data() + t.info.offsets[i];
    store(e + offsetof(E, counters), counters[i]);
    const uint16_t target_offset = load<uint16_t>(e + offsetof(E, target_offset));
    for (uint32_t off = sizeof(E); off < target_offset; off += load<uint16_t>(e + off)) {
      uint8_t* m = e + off;
      int err;
      const Extension* ext =
          find_extension(ExtKind::kMatch, F::kNfproto,
                         reinterpret_cast<const char*>(m + offsetof(xt_entry_match, u.user.name)),
                         m[offsetof(xt_entry_match, u.user.revision)], &err);
      normalize_ext(m, sizeof(xt_entry_match), ext);
    }
    uint8_t* tg = e + target_offset;
    int err;
    const Extension* ext =
        find_extension(ExtKind::kTarget, F::kNfproto,
                       reinterpret_cast<const char*>(tg + offsetof(xt_entry_target, u.user.name)),
                       tg[offsetof(xt_entry_target, u.user.revision)], &err);
    normalize_ext(tg, sizeof(xt_entry_target), ext);
  }
  return out;
}

}  // namespace

XtTables::XtTables(int family) : family_(family) {
  for (const BuiltinTable& b : builtin_tables()) {
    builtin_.push_back(family == AF_INET6 ? make_builtin<Ipv6>(b) : make_builtin<Ipv4>(b));
  }
}

const XtTable* XtTables::find(std::string_view name) const {
  for (const XtTable& t : tables_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

XtTable* XtTables::lookup(std::string_view name) {
  for (XtTable& t : tables_) {
    if (t.name == name) return &t;
  }
  // xt_find_table_lock: a table of a loaded module that this namespace has not used yet is
  // initialised now (table_init), and appears in /proc/net/ip_tables_names from then on.
  auto it = std::find_if(builtin_.begin(), builtin_.end(),
                         [&](const XtTable& t) { return t.name == name; });
  if (it == builtin_.end()) return nullptr;
  tables_.insert(tables_.begin(), std::move(*it));  // list_add: newest first
  builtin_.erase(it);
  if (backend_) backend_->instantiated(family_, tables_.front());
  return &tables_.front();
}

std::string XtTables::proc_names() const {
  std::string out;
  for (const XtTable& t : tables_) out += t.name + "\n";
  return out;
}

SockoptAnswer XtTables::get(int optname, std::span<const uint8_t> in, int optlen) {
  switch (optname) {
    case IPT_SO_GET_INFO:
      return get_info(in, optlen);
    case IPT_SO_GET_ENTRIES:
      return get_entries(in, optlen);
    default:
      if (family_ == AF_INET && (optname == IPT_SO_GET_REVISION_MATCH ||
                                 optname == IPT_SO_GET_REVISION_TARGET)) {
        return get_revision(optname, in, optlen);
      }
      if (family_ == AF_INET6 && (optname == IP6T_SO_GET_REVISION_MATCH ||
                                  optname == IP6T_SO_GET_REVISION_TARGET)) {
        return get_revision(optname, in, optlen);
      }
      return error(EINVAL);  // do_ipt_get_ctl's default
  }
}

SockoptAnswer XtTables::set(int optname, std::span<const uint8_t> in, unsigned optlen) {
  switch (optname) {
    case IPT_SO_SET_REPLACE:
      return replace(in, optlen);
    case IPT_SO_SET_ADD_COUNTERS:
      return add_counters(in, optlen);
    default:
      return error(EINVAL);
  }
}

SockoptAnswer XtTables::get_info(std::span<const uint8_t> in, int optlen) {
  // ipt_getinfo and ip6t_getinfo have the same layout.
  static_assert(sizeof(ipt_getinfo) == sizeof(ip6t_getinfo));
  if (optlen != static_cast<int>(sizeof(ipt_getinfo))) return error(EINVAL);
  if (in.size() < XT_TABLE_MAXNAMELEN) return error(EFAULT);
  const std::string_view name = table_name(in);
  XtTable* t = lookup(name);
  if (!t) return error(ENOENT);
  ipt_getinfo info{};
  info.valid_hooks = t->valid_hooks;
  std::copy(t->info.hook_entry.begin(), t->info.hook_entry.end(), info.hook_entry);
  std::copy(t->info.underflow.begin(), t->info.underflow.end(), info.underflow);
  info.num_entries = t->info.number;
  info.size = t->info.size;
  std::memcpy(info.name, name.data(), name.size());
  SockoptAnswer a;
  a.data.resize(sizeof(info));
  std::memcpy(a.data.data(), &info, sizeof(info));
  return a;
}

SockoptAnswer XtTables::get_entries(std::span<const uint8_t> in, int optlen) {
  static_assert(sizeof(ipt_get_entries) == sizeof(ip6t_get_entries));
  constexpr int kHeader = sizeof(ipt_get_entries);
  if (optlen < kHeader) return error(EINVAL);
  if (in.size() < static_cast<size_t>(kHeader)) return error(EFAULT);
  ipt_get_entries get;
  std::memcpy(&get, in.data(), kHeader);
  if (static_cast<unsigned>(optlen) != kHeader + get.size) return error(EINVAL);
  get.name[sizeof(get.name) - 1] = 0;
  XtTable* t = lookup(get.name);
  if (!t) return error(ENOENT);
  if (get.size != t->info.size) return error(EAGAIN);  // the table changed since GET_INFO
  SockoptAnswer a;
  a.write_offset = kHeader;
  const std::vector<xt_counters> counters = listed_counters(*t);
  a.data = family_ == AF_INET6 ? to_user<Ipv6>(*t, counters) : to_user<Ipv4>(*t, counters);
  return a;
}

SockoptAnswer XtTables::get_revision(int optname, std::span<const uint8_t> in, int optlen) {
  if (optlen != static_cast<int>(sizeof(xt_get_revision))) return error(EINVAL);
  if (in.size() < sizeof(xt_get_revision)) return error(EFAULT);
  xt_get_revision rev;
  std::memcpy(&rev, in.data(), sizeof(rev));
  rev.name[sizeof(rev.name) - 1] = 0;
  const bool target = optname == (family_ == AF_INET6 ? IP6T_SO_GET_REVISION_TARGET
                                                      : IPT_SO_GET_REVISION_TARGET);
  const uint8_t nfproto = family_ == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
  const int r = best_revision(target ? ExtKind::kTarget : ExtKind::kMatch, nfproto, rev.name,
                              rev.revision);
  // xt_find_revision yields the best revision, but ip_getsockopt/ipv6_getsockopt turn any
  // non-negative nf_getsockopt result into put_user()'s 0: callers only learn "supported".
  return SockoptAnswer{r < 0 ? r : 0, 0, {}};
}

SockoptAnswer XtTables::replace(std::span<const uint8_t> in, unsigned optlen) {
  static_assert(sizeof(ipt_replace) == sizeof(ip6t_replace));
  ipt_replace repl;
  // copy_safe_from_sockptr: a buffer shorter than the header is EINVAL (6.10+).
  if (optlen < sizeof(repl)) return error(EINVAL);
  if (in.size() < sizeof(repl)) return error(EFAULT);
  std::memcpy(&repl, in.data(), sizeof(repl));
  if (repl.num_counters >= INT_MAX / sizeof(xt_counters)) return error(ENOMEM);
  if (repl.num_counters == 0) return error(EINVAL);
  // optlen must cover the entries it announces (6.9+, "validate user input for expected length").
  if (uint64_t{optlen} < uint64_t{repl.size} + sizeof(repl)) return error(EINVAL);
  repl.name[sizeof(repl.name) - 1] = 0;
  if (size_t{repl.size} + kTableInfoHeader >= kMaxTableSize) return error(ENOMEM);
  if (in.size() < sizeof(repl) + repl.size) return error(EFAULT);

  ReplaceHeader h;
  h.table = std::string_view(repl.name);
  h.valid_hooks = repl.valid_hooks;
  h.num_entries = repl.num_entries;
  h.size = repl.size;
  std::copy(std::begin(repl.hook_entry), std::end(repl.hook_entry), h.hook_entry.begin());
  std::copy(std::begin(repl.underflow), std::end(repl.underflow), h.underflow.begin());
  const std::span<const uint8_t> blob = in.subspan(sizeof(repl), repl.size);
  auto info = family_ == AF_INET6 ? translate<Ipv6>(h, blob) : translate<Ipv4>(h, blob);
  if (!info) {
    log::debug("{}tables: SET_REPLACE of '{}' refused: {}", family_ == AF_INET6 ? "ip6" : "ip",
               h.table, info.error().describe());
    return error(info.error().err);
  }

  // __do_replace
  if (size_t{repl.num_counters} * sizeof(xt_counters) > kMaxTableSize) return error(ENOMEM);
  XtTable* t = lookup(h.table);
  if (!t) return error(ENOENT);
  if (repl.valid_hooks != t->valid_hooks) return error(EINVAL);  // "You lied!"
  if (repl.num_counters != t->info.number) return error(EAGAIN);

  if (hook_) {
    XtTable next{t->name, t->valid_hooks, *info, std::vector<xt_counters>(info->number), t->initial_entries};
    if (auto r = hook_(family_, next); !r) {
      log::info("{}tables: SET_REPLACE of '{}' refused by the backend: {}",
                family_ == AF_INET6 ? "ip6" : "ip", h.table, r.error().describe());
      return error(r.error().err);
    }
  }

  // xt_replace_table + get_counters: the old table's counters as they were when the new one
  // took over (what SET_ADD_COUNTERS added, plus what the backend counted until the swap).
  std::vector<xt_counters> old = t->counters;
  if (backend_) {
    XtTable next{t->name, t->valid_hooks, *info, std::vector<xt_counters>(info->number), t->initial_entries};
    auto counted = backend_->replace(family_, *t, next);
    if (!counted) {
      log::info("{}tables: SET_REPLACE of '{}' refused by the backend: {}", family_ == AF_INET6 ? "ip6" : "ip",
                h.table, counted.error().describe());
      return error(counted.error().err);
    }
    for (size_t i = 0; i < old.size() && i < counted->size(); ++i) {
      old[i].pcnt += (*counted)[i].pcnt;
      old[i].bcnt += (*counted)[i].bcnt;
    }
  }

  SockoptAnswer a;
  a.data.resize(old.size() * sizeof(xt_counters));
  std::memcpy(a.data.data(), old.data(), a.data.size());
  t->info = std::move(*info);
  t->counters.assign(t->info.number, xt_counters{});
  ++generation_;
  return a;
}

std::vector<xt_counters> XtTables::listed_counters(const XtTable& t) const {
  std::vector<xt_counters> out = t.counters;
  if (!backend_) return out;
  const std::vector<xt_counters> counted = backend_->counted(family_, t);
  for (size_t i = 0; i < out.size() && i < counted.size(); ++i) {
    out[i].pcnt += counted[i].pcnt;
    out[i].bcnt += counted[i].bcnt;
  }
  return out;
}

SockoptAnswer XtTables::add_counters(std::span<const uint8_t> in, unsigned optlen) {
  xt_counters_info head;
  if (optlen <= sizeof(head)) return error(EINVAL);
  if (in.size() < optlen) return error(EFAULT);
  std::memcpy(&head, in.data(), sizeof(head));
  head.name[sizeof(head.name) - 1] = 0;
  const size_t len = optlen - sizeof(head);
  if (uint64_t{sizeof(xt_counters)} * head.num_counters != len) return error(EINVAL);
  XtTable* t = lookup(head.name);
  if (!t) return error(ENOENT);
  if (t->info.number != head.num_counters) return error(EINVAL);
  const uint8_t* add = in.data() + sizeof(head);
  for (size_t i = 0; i < t->counters.size(); ++i) {
    const auto c = load<xt_counters>(add + i * sizeof(xt_counters));
    t->counters[i].bcnt += c.bcnt;
    t->counters[i].pcnt += c.pcnt;
  }
  return {};
}

}  // namespace nfbpf::nfnl::sockopt
