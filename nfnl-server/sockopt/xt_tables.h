#pragma once
// The x_tables state of one network namespace as iptables-legacy and ip6tables-legacy reach it
// through IPT_SO_* / IP6T_SO_* sockopts (net/ipv4/netfilter/ip_tables.c, ip6_tables.c,
// net/netfilter/x_tables.c), and the five sockopts with the kernel's checks and errnos.
// Pointer-free: the caller (nfbpfd, for the shim) moves bytes between the application's buffers
// and these calls; only SET_REPLACE's `counters` pointer needs a write-back, which the answer
// carries.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "nfnl-server/sockopt/translate_table.h"

namespace nfbpf::nfnl::sockopt {

struct SockoptAnswer {
  int status = 0;             // what get/setsockopt returns: 0 or -errno
  uint32_t write_offset = 0;  // getsockopt: where `data` goes in the caller's buffer
  std::vector<uint8_t> data;  // getsockopt: bytes for the caller's buffer;
                              // SET_REPLACE: the old counters, for the caller's `counters`
};

// One table (struct xt_table + its xt_table_info + the summed counters).
struct XtTable {
  std::string name;
  uint32_t valid_hooks = 0;
  TableInfo info;
  std::vector<xt_counters> counters;  // one per entry, in blob order
  uint32_t initial_entries = 0;
};

// The seam to a backend that runs the tables (nfbpfd's offload): called by SET_REPLACE with the
// table as it would be after the call (entries validated, counters zero), after every kernel
// check has passed and before anything changes. An Error refuses the call with its errno (e.g.
// EOPNOTSUPP for a rule BPF cannot run; the message goes to the daemon's log) and the old table
// stays; success means the backend has taken `next` (compiled and swapped it in).
// translate/ipt's IptTableBlob is {family, next.name, next.valid_hooks, next.info.hook_entry,
// next.info.underflow, next.info.entries}.
using ReplaceHook = std::function<Result<void>(int family, const struct XtTable& next)>;

// A backend that runs the tables and counts for them (nfbpfd's offload of the filter table,
// offload/legacy_table_offload.h). The table's listed counters are then XtTable::counters (what
// SET_ADD_COUNTERS added) plus what the backend counted, as the kernel's per-cpu counters are.
class XtBackend {
 public:
  virtual ~XtBackend() = default;
  // SET_REPLACE, as ReplaceHook (`current` is the table being replaced). On success: what the
  // backend counted for each entry of `current` (blob order) up to the moment `next` took over,
  // or an empty vector when it counted nothing for it.
  virtual Result<std::vector<xt_counters>> replace(int family, const XtTable& current, const XtTable& next) = 0;
  // What the backend has counted for each entry of `t` (blob order) since it took it; empty:
  // nothing (the table does not run in the backend).
  virtual std::vector<xt_counters> counted(int family, const XtTable& t) = 0;
  // A table was instantiated in the namespace (xt_find_table_lock's table_init): the kernel
  // registers its hooks at this moment (which orders it against nft chains at equal priority)
  // and its built-in policies start counting. Cannot refuse: failures are the backend's to log.
  virtual void instantiated(int family, const XtTable& table) {
    (void)family;
    (void)table;
  }
};

// One family's tables (net->xt.tables[af]).
class XtTables {
 public:
  explicit XtTables(int family);  // AF_INET or AF_INET6

  // getsockopt(level, optname): `in` holds the caller's buffer (at least its request header),
  // `optlen` the caller's *optlen.
  SockoptAnswer get(int optname, std::span<const uint8_t> in, int optlen);
  // setsockopt(level, optname): `in` holds the first min(optlen, what the kernel reads) bytes of
  // the caller's buffer (SET_REPLACE: the ipt_replace header and `size` bytes of entries).
  SockoptAnswer set(int optname, std::span<const uint8_t> in, unsigned optlen);

  // The content of /proc/net/ip{,6}_tables_names: tables this namespace has instantiated (by
  // looking them up), newest first, one per line.
  std::string proc_names() const;

  // Direct access for tests and, later, the translation to BPF.
  const XtTable* find(std::string_view name) const;
  // Bumped on every successful SET_REPLACE (the translation's cue).
  uint64_t generation() const { return generation_; }
  // See ReplaceHook. One per family; an empty function removes it.
  void set_replace_hook(ReplaceHook hook) { hook_ = std::move(hook); }
  // See XtBackend; nullptr removes it. Not owned: it must outlive this object's use.
  void set_backend(XtBackend* backend) { backend_ = backend; }

 private:
  XtTable* lookup(std::string_view name);  // instantiates a builtin table on first use
  SockoptAnswer get_info(std::span<const uint8_t> in, int optlen);
  SockoptAnswer get_entries(std::span<const uint8_t> in, int optlen);
  SockoptAnswer get_revision(int optname, std::span<const uint8_t> in, int optlen);
  SockoptAnswer replace(std::span<const uint8_t> in, unsigned optlen);
  SockoptAnswer add_counters(std::span<const uint8_t> in, unsigned optlen);

  int family_;
  std::vector<XtTable> builtin_;     // every table the kernel could load, not yet looked up
  std::vector<XtTable> tables_;      // instantiated, newest first
  uint64_t generation_ = 0;
  ReplaceHook hook_;
  XtBackend* backend_ = nullptr;
  // XtTable::counters plus what the backend counted for `t`.
  std::vector<xt_counters> listed_counters(const XtTable& t) const;
};

// Both families, dispatched on the socket's family.
class IptSockopts {
 public:
  IptSockopts() : v4_(AF_INET), v6_(AF_INET6) {}
  XtTables& family(int af) { return af == AF_INET6 ? v6_ : v4_; }
  void set_backend(XtBackend* backend) {
    v4_.set_backend(backend);
    v6_.set_backend(backend);
  }

 private:
  XtTables v4_, v6_;
};

}  // namespace nfbpf::nfnl::sockopt
