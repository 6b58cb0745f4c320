#include "nfnl-server/sockopt/translate_table.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <linux/netfilter/xt_tcpudp.h>  // xt_tcp: TCPMSS's find_syn_match

#include "nfnl-server/sockopt/extensions.h"

namespace nfbpf::nfnl::sockopt {

namespace {

// Offsets inside an entry header, identical in layout terms for both families.
template <typename F>
struct EntryView {
  using E = typename F::Entry;
  static constexpr size_t kSize = sizeof(E);
  static constexpr size_t kTargetOffset = offsetof(E, target_offset);
  static constexpr size_t kNextOffset = offsetof(E, next_offset);
  static constexpr size_t kComefrom = offsetof(E, comefrom);
  static constexpr size_t kCounters = offsetof(E, counters);

  uint8_t* base;
  uint8_t* at(uint32_t off) const { return base + off; }
  uint16_t target_offset(uint32_t off) const { return load<uint16_t>(at(off) + kTargetOffset); }
  uint16_t next_offset(uint32_t off) const { return load<uint16_t>(at(off) + kNextOffset); }
  uint32_t comefrom(uint32_t off) const { return load<uint32_t>(at(off) + kComefrom); }
  void set_comefrom(uint32_t off, uint32_t v) const { store(at(off) + kComefrom, v); }
  // mark_source_chains keeps its back pointers in counters.pcnt, as the kernel does.
  uint64_t pcnt(uint32_t off) const { return load<uint64_t>(at(off) + kCounters); }
  void set_pcnt(uint32_t off, uint64_t v) const { store(at(off) + kCounters, v); }
  typename F::Ip ip(uint32_t off) const { return load<typename F::Ip>(at(off)); }
  const uint8_t* target(uint32_t off) const { return at(off) + target_offset(off); }
};

// The target's (or match's) user name: 29 bytes, NUL-terminated by the caller's promise only.
std::string_view ext_name(const uint8_t* hdr) {
  const char* name = reinterpret_cast<const char*>(hdr + offsetof(xt_entry_target, u.user.name));
  return {name, strnlen(name, XT_EXTENSION_MAXNAMELEN)};
}
uint16_t ext_size(const uint8_t* hdr) { return load<uint16_t>(hdr); }
uint8_t ext_revision(const uint8_t* hdr) {
  return hdr[offsetof(xt_entry_target, u.user.revision)];
}
int standard_verdict(const uint8_t* target) {
  return load<int>(target + sizeof(xt_entry_target));
}
// strcmp(name, want) == 0 on the user name. Bounded: a name without a NUL in its 29 bytes
// equals none of the short names compared against, as with the kernel's unbounded strcmp.
bool name_is(const uint8_t* hdr, std::string_view want) { return ext_name(hdr) == want; }

template <typename F>
bool ip_checkentry(const typename F::Ip& ip) {
  return !(ip.flags & ~F::kFlagMask) && !(ip.invflags & ~F::kInvMask);
}

template <typename F>
bool unconditional(const EntryView<F>& v, uint32_t off) {
  static const typename F::Ip uncond{};
  const typename F::Ip ip = v.ip(off);
  return std::memcmp(&ip, &uncond, sizeof(uncond)) == 0 && v.target_offset(off) == sizeof(typename F::Entry);
}

bool verdict_ok(int verdict) {
  if (verdict > 0) return true;
  if (verdict < 0) {
    if (verdict == XT_RETURN) return true;
    const int v = -verdict - 1;
    return v == NF_ACCEPT || v == NF_DROP || v == NF_QUEUE;
  }
  return false;
}

// xt_check_entry_match.
int check_entry_match(const uint8_t* match, const uint8_t* target) {
  int length = static_cast<int>(target - match);
  if (length == 0) return 0;
  const uint8_t* pos = match;
  do {
    if (reinterpret_cast<uintptr_t>(pos) % alignof(xt_entry_match)) return -EINVAL;
    if (length < static_cast<int>(sizeof(xt_entry_match))) return -EINVAL;
    const uint16_t msize = ext_size(pos);
    if (msize < sizeof(xt_entry_match)) return -EINVAL;
    if (msize > length) return -EINVAL;
    length -= msize;
    pos += msize;
  } while (length > 0);
  return 0;
}

// xt_check_entry_offsets.
template <typename F>
int check_entry_offsets(const EntryView<F>& v, uint32_t off) {
  const uint32_t target_offset = v.target_offset(off);
  const uint32_t next_offset = v.next_offset(off);
  if (target_offset < sizeof(typename F::Entry)) return -EINVAL;
  if (target_offset + sizeof(xt_entry_target) > next_offset) return -EINVAL;
  const uint8_t* t = v.at(off) + target_offset;
  if (ext_size(t) < sizeof(xt_entry_target)) return -EINVAL;
  if (target_offset + ext_size(t) > next_offset) return -EINVAL;
  if (name_is(t, XT_STANDARD_TARGET)) {
    if (xt_align(target_offset + sizeof(xt_standard_target)) != next_offset) return -EINVAL;
    if (!verdict_ok(standard_verdict(t))) return -EINVAL;
  } else if (name_is(t, XT_ERROR_TARGET)) {
    const char* msg = reinterpret_cast<const char*>(t + sizeof(xt_entry_target));
    if (ext_size(t) != sizeof(xt_error_target) ||
        strnlen(msg, XT_FUNCTION_MAXNAMELEN) >= XT_FUNCTION_MAXNAMELEN) {
      return -EINVAL;
    }
  }
  return check_entry_match(v.at(off) + sizeof(typename F::Entry), t);
}

template <typename F>
bool check_underflow(const EntryView<F>& v, uint32_t off) {
  if (!unconditional(v, off)) return false;
  const uint8_t* t = v.target(off);
  if (!name_is(t, XT_STANDARD_TARGET)) return false;
  const unsigned verdict = static_cast<unsigned>(-standard_verdict(t) - 1);
  return verdict == NF_DROP || verdict == NF_ACCEPT;
}

// check_entry_size_and_hooks. `limit` is the blob size.
template <typename F>
int check_entry_size_and_hooks(const EntryView<F>& v, uint32_t off, uint32_t limit,
                               TableInfo& info, const ReplaceHeader& h) {
  if (off % alignof(typename F::Entry) != 0 || off + sizeof(typename F::Entry) >= limit ||
      off + v.next_offset(off) > limit) {
    return -EINVAL;
  }
  if (v.next_offset(off) < sizeof(typename F::Entry) + sizeof(xt_entry_target)) return -EINVAL;
  if (!ip_checkentry<F>(v.ip(off))) return -EINVAL;
  if (int err = check_entry_offsets(v, off)) return err;
  for (unsigned hook = 0; hook < kNumHooks; ++hook) {
    if (!(h.valid_hooks & (1u << hook))) continue;
    if (off == h.hook_entry[hook]) info.hook_entry[hook] = h.hook_entry[hook];
    if (off == h.underflow[hook]) {
      if (!check_underflow(v, off)) return -EINVAL;
      info.underflow[hook] = h.underflow[hook];
    }
  }
  std::memset(v.at(off) + EntryView<F>::kCounters, 0, sizeof(xt_counters));
  v.set_comefrom(off, 0);
  return 0;
}

// xt_check_table_hooks.
int check_table_hooks(const TableInfo& info, uint32_t valid_hooks) {
  uint32_t max_uflow = 0, max_entry = 0;
  bool check = false;
  for (unsigned i = 0; i < kNumHooks; ++i) {
    if (!(valid_hooks & (1u << i))) continue;
    if (info.hook_entry[i] == kNoOffset || info.underflow[i] == kNoOffset) return -EINVAL;
    if (check) {
      if (max_uflow >= info.underflow[i] || max_entry >= info.hook_entry[i]) return -EINVAL;
    }
    max_entry = info.hook_entry[i];
    max_uflow = info.underflow[i];
    check = true;
  }
  return 0;
}

// mark_source_chains: walks every chain reachable from each hook without recursion, recording
// the hooks that reach each entry in comefrom. False on a loop or a jump into the middle of a
// rule. Bit kNumHooks marks "on the current path", exactly as the kernel uses it.
template <typename F>
bool mark_source_chains(const EntryView<F>& v, const TableInfo& info, uint32_t valid_hooks) {
  for (unsigned hook = 0; hook < kNumHooks; ++hook) {
    if (!(valid_hooks & (1u << hook))) continue;
    uint32_t pos = info.hook_entry[hook];
    v.set_pcnt(pos, pos);
    for (;;) {
      const uint8_t* t = v.target(pos);
      const bool visited = v.comefrom(pos) & (1u << hook);
      if (v.comefrom(pos) & (1u << kNumHooks)) return false;
      v.set_comefrom(pos, v.comefrom(pos) | (1u << hook) | (1u << kNumHooks));
      if ((unconditional(v, pos) && name_is(t, XT_STANDARD_TARGET) && standard_verdict(t) < 0) ||
          visited) {
        uint32_t oldpos;
        do {  // return: backtrack through the last big jump
          v.set_comefrom(pos, v.comefrom(pos) ^ (1u << kNumHooks));
          oldpos = pos;
          pos = static_cast<uint32_t>(v.pcnt(pos));
          v.set_pcnt(oldpos, 0);
          if (pos == oldpos) goto next_hook;
        } while (oldpos == pos + v.next_offset(pos));
        const uint32_t size = v.next_offset(pos);
        if (pos + size >= info.size) return false;
        v.set_pcnt(pos + size, pos);
        pos += size;
      } else {
        // Only a standard target has a verdict to read (another target may end the blob).
        const bool standard = name_is(t, XT_STANDARD_TARGET);
        int newpos = standard ? standard_verdict(t) : -1;
        if (standard && newpos >= 0) {
          // xt_find_jump_offset: a jump must land on the start of an entry.
          if (!std::binary_search(info.offsets.begin(), info.offsets.end(),
                                  static_cast<uint32_t>(newpos))) {
            return false;
          }
        } else {
          newpos = static_cast<int>(pos + v.next_offset(pos));
          if (static_cast<uint32_t>(newpos) >= info.size) return false;
        }
        v.set_pcnt(static_cast<uint32_t>(newpos), pos);
        pos = static_cast<uint32_t>(newpos);
      }
    }
  next_hook:;
  }
  return true;
}

// find_check_entry: every match and the target must be known, of the registered size, and pass
// the table/hook/protocol restrictions and checkentry.
template <typename F>
int find_check_entry(const EntryView<F>& v, uint32_t off, std::string_view table) {
  const typename F::Ip ip = v.ip(off);
  CheckContext ctx;
  ctx.proto = ip.proto;
  ctx.inv_proto = ip.invflags & F::kInvProto;
  if constexpr (std::is_same_v<F, Ipv6>) ctx.ipv6_proto_set = ip.flags & IP6T_F_PROTO;
  const uint32_t hook_mask = v.comefrom(off);
  ctx.hook_mask = hook_mask;
  ctx.table = table;
  ctx.family = F::kNfproto;
  // find_syn_match (xt_TCPMSS.c): a tcp match whose flags compare includes SYN, not inverted.
  for (uint32_t i = sizeof(typename F::Entry); i < v.target_offset(off);
       i += ext_size(v.at(off) + i)) {
    const uint8_t* m = v.at(off) + i;
    if (ext_name(m) != std::string_view("tcp") || ext_size(m) < sizeof(xt_entry_match) + sizeof(xt_tcp))
      continue;
    xt_tcp t;
    std::memcpy(&t, m + sizeof(xt_entry_match), sizeof(t));
    if ((t.flg_cmp & 0x02) && !(t.invflags & XT_TCP_INV_FLAGS)) ctx.has_syn_match = true;
  }

  auto check_common = [&](const Extension& ext, const uint8_t* hdr, size_t hdr_size) -> int {
    const size_t size = ext_size(hdr) - hdr_size;
    if (ext.size != -1 && xt_align(static_cast<size_t>(ext.size)) != size) return -EINVAL;
    if (!ext.table.empty() && ext.table != table) return -EINVAL;
    if (ext.hooks && (hook_mask & ~ext.hooks)) return -EINVAL;
    if (ext.proto && (ext.proto != ctx.proto || ctx.inv_proto)) return -EINVAL;
    if (ext.check) {
      int r = ext.check({hdr + hdr_size, size}, ctx);
      if (r < 0) return r;
      if (r > 0) return -EIO;
    }
    return 0;
  };

  const uint32_t target_offset = v.target_offset(off);
  for (uint32_t i = sizeof(typename F::Entry); i < target_offset; i += ext_size(v.at(off) + i)) {
    const uint8_t* m = v.at(off) + i;
    if (strnlen(reinterpret_cast<const char*>(m) + 2, XT_EXTENSION_MAXNAMELEN) ==
        XT_EXTENSION_MAXNAMELEN) {
      return -EINVAL;  // xt_find_match refuses an unterminated name
    }
    int err = 0;
    const Extension* ext = find_extension(ExtKind::kMatch, F::kNfproto, ext_name(m),
                                          ext_revision(m), &err);
    if (!ext) return err;
    if (int r = check_common(*ext, m, sizeof(xt_entry_match))) return r;
  }
  const uint8_t* t = v.target(off);
  if (strnlen(reinterpret_cast<const char*>(t) + 2, XT_EXTENSION_MAXNAMELEN) ==
      XT_EXTENSION_MAXNAMELEN) {
    return -EINVAL;
  }
  int err = 0;
  const Extension* ext =
      find_extension(ExtKind::kTarget, F::kNfproto, ext_name(t), ext_revision(t), &err);
  if (!ext) return err;
  return check_common(*ext, t, sizeof(xt_entry_target));
}

}  // namespace

template <typename F>
Result<TableInfo> translate_table(const ReplaceHeader& h, std::span<const uint8_t> blob) {
  TableInfo info;
  info.size = h.size;
  info.number = h.num_entries;
  info.hook_entry.fill(kNoOffset);
  info.underflow.fill(kNoOffset);
  info.entries.assign(blob.begin(), blob.end());
  // Entries are 8-aligned relative to the blob; the vector's storage is 16-aligned.
  const EntryView<F> v{info.entries.data()};

  if (h.num_entries > (512u << 20) / sizeof(uint32_t)) {
    return fail(ENOMEM, "too many entries");  // xt_alloc_entry_offsets
  }
  info.offsets.reserve(h.num_entries);
  uint32_t count = 0;
  // xt_entry_foreach: while pos < size, advance by next_offset.
  for (uint32_t off = 0; off < h.size; off += v.next_offset(off)) {
    if (int err = check_entry_size_and_hooks(v, off, h.size, info, h)) {
      return failf(-err, "entry {} at offset {}: bad size, offsets or hooks", count, off);
    }
    if (count < h.num_entries) info.offsets.push_back(off);
    ++count;
  }
  if (count != h.num_entries) {
    return failf(EINVAL, "{} entries in the blob, {} announced", count, h.num_entries);
  }
  if (int err = check_table_hooks(info, h.valid_hooks)) {
    return fail(-err, "hook entries/underflows unset, unsorted or duplicated");
  }
  if (!mark_source_chains(v, info, h.valid_hooks)) {
    return fail(ELOOP, "loop, or a jump that does not land on an entry");
  }
  for (uint32_t i = 0; i < info.offsets.size(); ++i) {
    if (int err = find_check_entry(v, info.offsets[i], h.table)) {
      return failf(-err, "entry {}: match or target refused", i);
    }
  }
  // The kernel's own copy keeps per-cpu counter pointers there; userspace always sees the
  // summed counters, which the store keeps apart.
  for (uint32_t off : info.offsets) {
    std::memset(info.entries.data() + off + EntryView<F>::kCounters, 0, sizeof(xt_counters));
  }
  return info;
}

template Result<TableInfo> translate_table<Ipv4>(const ReplaceHeader&, std::span<const uint8_t>);
template Result<TableInfo> translate_table<Ipv6>(const ReplaceHeader&, std::span<const uint8_t>);

}  // namespace nfbpf::nfnl::sockopt
