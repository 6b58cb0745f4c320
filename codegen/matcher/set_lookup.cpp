#include "codegen/matcher/set_lookup.h"

#include "codegen/matcher/load.h"
#include "codegen/matcher/stack_access.h"
#include "translate/ir/build.h"

#include <algorithm>
#include <cstring>

namespace nfbpf::codegen::matcher {

using emit::AluOp;
using emit::Cond;
using emit::Reg;
using emit::Size;

namespace {

Size size_of(uint32_t n) { return n == 1 ? Size::kB : n == 2 ? Size::kH : n == 4 ? Size::kW : Size::kDW; }

// Copies n bytes from [r1] to the temporary at `dst` in 8/4/2/1-byte pieces (r2, r3 scratch);
// max_chunk 4 when r1 may point at a 4-aligned stack offset.
void copy_mem(emit::Program& p, int16_t dst, uint32_t n, uint32_t max_chunk = 8) {
  uint32_t off = 0;
  for (uint32_t s : {8u, 4u, 2u, 1u})
    while (s <= max_chunk && n - off >= s) {
      if (s == 8) {
        ldx64(p, Reg::R2, Reg::R1, static_cast<int16_t>(off), Reg::R3);
        stx64(p, kTmp, at(static_cast<int16_t>(dst + off)), Reg::R2);
      } else {
        p.ldx(size_of(s), Reg::R2, Reg::R1, static_cast<int16_t>(off));
        p.stx(size_of(s), kTmp, at(static_cast<int16_t>(dst + off)), Reg::R2);
      }
      off += s;
    }
}

void apply_mask(emit::Program& p, int16_t base_slot, const ir::Bytes& mask) {
  uint32_t n = static_cast<uint32_t>(mask.size());
  uint32_t off = 0;
  for (uint32_t s : {8u, 4u, 2u, 1u})
    while (n - off >= s) {
      uint64_t m = 0;
      bool all = true;
      for (uint32_t i = 0; i < s; ++i) {
        m |= static_cast<uint64_t>(mask[off + i]) << (8 * i);
        all = all && mask[off + i] == 0xff;
      }
      if (!all) {
        int16_t o = static_cast<int16_t>(base_slot + off);
        if (s == 8) {
          ldx64(p, Reg::R2, kTmp, at(o), Reg::R3);
          p.ld_imm64(Reg::R3, m);
          p.alu(AluOp::kAnd, Reg::R2, Reg::R3);
          stx64(p, kTmp, at(o), Reg::R2);
        } else {
          p.ldx(size_of(s), Reg::R2, kTmp, at(o));
          p.alu32(AluOp::kAnd, Reg::R2, static_cast<int32_t>(m));
          p.stx(size_of(s), kTmp, at(o), Reg::R2);
        }
      }
      off += s;
    }
}

// The map value an element stands for (as chain/sets.cpp writes elements).
Result<ir::Bytes> element_value(const ir::Table& t, const ir::Set& s, const ir::Element& e) {
  if (s.verdict_map) {
    if (!e.verdict) return failf(EINVAL, "set '{}': element without a verdict", s.name);
    VmapValue v{static_cast<uint32_t>(e.verdict->kind), 0};
    if (e.verdict->kind == ir::VerdictKind::kJump || e.verdict->kind == ir::VerdictKind::kGoto) {
      auto it = std::find_if(t.chains.begin(), t.chains.end(), [&](const ir::Chain& ch) { return ch.name == e.verdict->chain; });
      if (it == t.chains.end()) return failf(ENOENT, "set '{}': element jumps to unknown chain '{}'", s.name, e.verdict->chain);
      v.chain = static_cast<uint32_t>(it - t.chains.begin());
    }
    ir::Bytes b(sizeof v);
    std::memcpy(b.data(), &v, sizeof v);
    return b;
  }
  if (s.data_len > 0) {
    ir::Bytes b = e.data;
    b.resize((s.data_len + 3) & ~3u, 0);
    return b;
  }
  ir::Bytes b(4);
  uint32_t one = kSetMemberValue;
  std::memcpy(b.data(), &one, 4);
  return b;
}

// Writes `v` into the temporary at `value_slot` as immediates and leaves r0 pointing at it.
void emit_value_copy(emit::Program& p, const ir::Bytes& v, int16_t value_slot) {
  for (size_t off = 0; off < v.size(); off += 4) {
    uint32_t w = 0;
    std::memcpy(&w, v.data() + off, std::min<size_t>(4, v.size() - off));
    p.st(Size::kW, kTmp, at(static_cast<int16_t>(value_slot + off)), static_cast<int32_t>(w));
  }
  p.mov(Reg::R0, kTmp);
  p.alu(AluOp::kAdd, Reg::R0, at(value_slot));
}

// After bpf_map_lookup_elem: on a miss (r0 == NULL) and when the set has a catch-all element,
// r0 = a stack copy of its value, baked in as immediates (nft_set_catchall_lookup). The copy is
// allocated below the caller's mark so that it outlives the lookup's own temporaries; callers
// read r0 right after the lookup. A change of the catch-all changes the set's printed shape, so
// the daemon recompiles the program instead of updating the map in place (offload_hook.cpp).
Result<void> emit_catchall(EmitCtx& c, const ir::Set& s, int16_t value_slot) {
  if (!s.catchall) return {};
  auto v = element_value(c.table, s, *s.catchall);
  if (!v) return std::unexpected(std::move(v).error());
  emit::Program& p = c.p;
  emit::JumpPatch hit = p.jmp_fwd(Cond::kNe, Reg::R0, 0);
  emit_value_copy(p, *v, value_slot);
  hit.bind_here();
  return {};
}

// The temporary a looked-up value is copied to: for a catch-all, or for every element of a scanned
// set (allocated before the key, so that it outlives the lookup's own temporaries).
Result<int16_t> catchall_slot(EmitCtx& c, const ir::Set& s) {
  if (!s.catchall && set_map_kind(s) != SetMapKind::kScan) return int16_t{0};
  uint32_t n = s.verdict_map ? sizeof(VmapValue) : s.data_len > 0 ? (s.data_len + 3) & ~3u : 4;
  return c.stack.alloc(static_cast<uint16_t>((n + 7) & ~7u));
}

}  // namespace

bool concat_element_fits_lpm(const ir::Set& s, const ir::Element& e) {
  const ir::Bytes& hi = e.key_end.empty() ? e.key : e.key_end;
  if (e.key.size() != s.key_len || hi.size() != s.key_len) return true;  // malformed: chain/sets.cpp says so
  uint32_t off = 0;
  size_t part = 0;
  for (; part < s.key_parts.size(); ++part) {  // exact parts
    uint32_t slot = (s.key_parts[part] + 3) & ~3u;
    if (std::memcmp(e.key.data() + off, hi.data() + off, slot) != 0) break;
    off += slot;
  }
  if (part == s.key_parts.size()) return true;
  off += (s.key_parts[part] + 3) & ~3u;  // the one ranged part
  for (size_t q = part + 1; q < s.key_parts.size(); ++q) {  // then only full ranges
    for (uint32_t i = 0; i < s.key_parts[q]; ++i)
      if (e.key[off + i] != 0 || hi[off + i] != 0xff) return false;
    off += (s.key_parts[q] + 3) & ~3u;
  }
  return true;
}

SetMapKind set_map_kind(const ir::Set& s) {
  if (!(s.flags & ir::kSetInterval)) return SetMapKind::kHash;
  if (s.key_parts.size() > 1)
    for (const ir::Element& e : s.elements)
      if (!concat_element_fits_lpm(s, e)) return SetMapKind::kScan;
  return SetMapKind::kLpm;
}

namespace {

// Unsigned compare of the part's big-endian bytes at the temporary `key_slot + off` with `lo` and
// `hi` (memcmp order, as nft_pipapo compares), jumping to `miss` unless lo <= key <= hi. Works in
// 4/2/1-byte chunks, most significant first, each loaded and byte-swapped to a number.
void emit_part_in_range(emit::Program& p, int16_t key_slot, uint32_t off, const ir::Bytes& lo, const ir::Bytes& hi,
                        emit::Label& miss) {
  const uint32_t n = static_cast<uint32_t>(lo.size());
  struct Chunk { uint32_t at, len, lo, hi; };
  std::vector<Chunk> chunks;
  for (uint32_t o = 0; o < n;) {
    uint32_t len = n - o >= 4 ? 4 : n - o >= 2 ? 2 : 1;
    Chunk ch{o, len, 0, 0};
    for (uint32_t i = 0; i < len; ++i) {
      ch.lo = (ch.lo << 8) | lo[o + i];
      ch.hi = (ch.hi << 8) | hi[o + i];
    }
    chunks.push_back(ch);
    o += len;
  }
  auto load = [&](const Chunk& ch) {
    p.ldx(size_of(ch.len), Reg::R1, kTmp, at(static_cast<int16_t>(key_slot + off + ch.at)));
    if (ch.len > 1) p.to_be(Reg::R1, static_cast<int>(ch.len * 8));
  };
  const bool lo_zero = std::all_of(lo.begin(), lo.end(), [](uint8_t b) { return b == 0; });
  const bool hi_ones = std::all_of(hi.begin(), hi.end(), [](uint8_t b) { return b == 0xff; });
  if (lo == hi) {
    for (const Chunk& ch : chunks) {
      load(ch);
      p.jmp32(Cond::kNe, Reg::R1, static_cast<int32_t>(ch.lo), miss);
    }
    return;
  }
  // key >= lo: the first chunk that differs decides; all equal holds.
  if (!lo_zero) {
    emit::Label ok(p);
    for (size_t i = 0; i < chunks.size(); ++i) {
      load(chunks[i]);
      p.jmp32(Cond::kLt, Reg::R1, static_cast<int32_t>(chunks[i].lo), miss);
      if (i + 1 < chunks.size()) p.jmp32(Cond::kGt, Reg::R1, static_cast<int32_t>(chunks[i].lo), ok);
    }
    p.bind(ok);
  }
  if (!hi_ones) {
    emit::Label ok(p);
    for (size_t i = 0; i < chunks.size(); ++i) {
      load(chunks[i]);
      p.jmp32(Cond::kGt, Reg::R1, static_cast<int32_t>(chunks[i].hi), miss);
      if (i + 1 < chunks.size()) p.jmp32(Cond::kLt, Reg::R1, static_cast<int32_t>(chunks[i].hi), ok);
    }
    p.bind(ok);
  }
}

// A scanned set (SetMapKind::kScan): the elements are baked into the program, tried in order;
// the first whose every part holds the key's part gives r0 = a stack copy of its value (they
// cannot overlap, so the order does not matter), else r0 = 0. A change of an element changes the
// program: the daemon recompiles instead of updating a map (offload_hook.cpp compile_key).
constexpr size_t kMaxScanElements = 256;

Result<void> emit_scan(EmitCtx& c, const ir::Set& s, int16_t key_slot, int16_t value_slot) {
  if (s.elements.size() > kMaxScanElements)
    return failf(EOPNOTSUPP, "set '{}': more than {} elements with several ranged parts (the program tests each)", s.name,
                 kMaxScanElements);
  if (s.flags & ir::kSetTimeout)
    return failf(EOPNOTSUPP, "set '{}': element timeouts in a set with several ranged parts are not supported", s.name);
  emit::Program& p = c.p;
  emit::Label done(p);
  for (const ir::Element& e : s.elements) {
    const ir::Bytes& hi = e.key_end.empty() ? e.key : e.key_end;
    if (e.key.size() != s.key_len || hi.size() != s.key_len)
      return failf(EINVAL, "set '{}': element key of {} bytes, key_len {}", s.name, e.key.size(), s.key_len);
    auto v = element_value(c.table, s, e);
    if (!v) return std::unexpected(std::move(v).error());
    emit::Label next(p);
    uint32_t off = 0;
    for (uint32_t plen : s.key_parts) {
      ir::Bytes lo_part(e.key.begin() + off, e.key.begin() + off + plen), hi_part(hi.begin() + off, hi.begin() + off + plen);
      emit_part_in_range(p, key_slot, off, lo_part, hi_part, next);
      off += (plen + 3) & ~3u;
    }
    emit_value_copy(p, *v, value_slot);
    p.jmp(done);
    p.bind(next);
  }
  p.mov(Reg::R0, 0);
  p.bind(done);
  return {};
}

}  // namespace

Result<void> emit_build_key(EmitCtx& c, const std::vector<ir::Field>& key, const std::optional<ir::Bytes>& mask,
                            bool lpm, int16_t& key_slot, emit::Label& fail) {
  emit::Program& p = c.p;
  uint32_t klen = ir::build::key_len(key);
  if (mask && mask->size() != klen) return failf(EINVAL, "mask of {} bytes for a {}-byte key", mask->size(), klen);
  uint32_t hdr = lpm ? 4 : 0;
  auto slot = c.stack.alloc(static_cast<uint16_t>((hdr + klen + 7) & ~7u));
  if (!slot) return std::unexpected(std::move(slot).error());
  key_slot = *slot;
  int16_t data = static_cast<int16_t>(*slot + hdr);
  if (lpm) p.st(Size::kW, kTmp, at(*slot), static_cast<int32_t>(klen * 8));
  uint32_t off = 0;
  for (const ir::Field& f : key) {
    uint32_t slot_len = key.size() == 1 ? f.len : (f.len + 3) & ~3u;
    // Padding first (the field's own bytes are overwritten below).
    for (uint32_t z = f.len; z < slot_len; ++z) p.st(Size::kB, kTmp, at(static_cast<int16_t>(data + off + z)), 0);
    int16_t mark = c.stack.mark();
    auto l = load_field(c, f, fail);
    if (!l) return std::unexpected(std::move(l).error());
    if (l->kind == Loaded::Kind::kReg && l->len == 8) stx64(p, kTmp, at(static_cast<int16_t>(data + off)), Reg::R1);
    else if (l->kind == Loaded::Kind::kReg) p.stx(size_of(l->len), kTmp, at(static_cast<int16_t>(data + off)), Reg::R1);
    else copy_mem(p, static_cast<int16_t>(data + off), l->len);
    c.stack.release_to(mark);
    off += slot_len;
  }
  if (mask) apply_mask(p, data, *mask);
  return {};
}

Result<void> emit_lookup(EmitCtx& c, const std::vector<ir::Field>& key, const std::optional<ir::Bytes>& mask,
                         const std::string& set_name, emit::Label& fail) {
  const ir::Set* s = ir::find_set(c.table, set_name);
  if (!s) return failf(ENOENT, "set '{}' not found", set_name);
  uint32_t klen = ir::build::key_len(key);
  if (klen != s->key_len) return failf(EINVAL, "set '{}' has key_len {}, the key is {} bytes", set_name, s->key_len, klen);
  auto value_slot = catchall_slot(c, *s);
  if (!value_slot) return std::unexpected(std::move(value_slot).error());
  int16_t slot = 0;
  bool lpm = set_map_kind(*s) == SetMapKind::kLpm;
  NFBPF_TRYV(emit_build_key(c, key, mask, lpm, slot, fail));
  if (set_map_kind(*s) == SetMapKind::kScan) {
    NFBPF_TRYV(emit_scan(c, *s, slot, *value_slot));
    return emit_catchall(c, *s, *value_slot);
  }
  auto map = c.set_map(set_name);
  if (!map) return std::unexpected(std::move(map).error());
  c.p.ld_map_fd(Reg::R1, c.p.map(*map));
  c.p.mov(Reg::R2, kTmp);
  c.p.alu(AluOp::kAdd, Reg::R2, at(slot));
  c.p.call_helper(BPF_FUNC_map_lookup_elem);
  return emit_catchall(c, *s, *value_slot);
}

Result<void> emit_lookup_at(EmitCtx& c, int16_t key_off, const std::string& set_name) {
  const ir::Set* s = ir::find_set(c.table, set_name);
  if (!s) return failf(ENOENT, "set '{}' not found", set_name);
  emit::Program& p = c.p;
  auto value_slot = catchall_slot(c, *s);
  if (!value_slot) return std::unexpected(std::move(value_slot).error());
  if (set_map_kind(*s) == SetMapKind::kScan) {
    NFBPF_TRYV(emit_scan(c, *s, key_off, *value_slot));
    return emit_catchall(c, *s, *value_slot);
  }
  auto map = c.set_map(set_name);
  if (!map) return std::unexpected(std::move(map).error());
  int16_t at_slot = key_off;
  if (set_map_kind(*s) == SetMapKind::kLpm) {
    // The trie wants {prefixlen, key}: copy the register bytes behind a header.
    auto slot = c.stack.alloc(static_cast<uint16_t>((4 + s->key_len + 7) & ~7u));
    if (!slot) return std::unexpected(std::move(slot).error());
    p.st(Size::kW, kTmp, at(*slot), static_cast<int32_t>(s->key_len * 8));
    p.mov(Reg::R1, kTmp);
    p.alu(AluOp::kAdd, Reg::R1, at(key_off));
    copy_mem(p, static_cast<int16_t>(*slot + 4), s->key_len, /*max_chunk=*/4);  // register offsets are 4-aligned
    at_slot = *slot;
  }
  p.ld_map_fd(Reg::R1, p.map(*map));
  p.mov(Reg::R2, kTmp);
  p.alu(AluOp::kAdd, Reg::R2, matcher::at(at_slot));
  p.call_helper(BPF_FUNC_map_lookup_elem);
  return emit_catchall(c, *s, *value_slot);
}

Result<void> emit_set_match(EmitCtx& c, const ir::Match& m, emit::Label& fail) {
  NFBPF_TRYV(emit_lookup(c, m.key, m.mask, m.set, fail));
  c.p.jmp(m.op == ir::Op::kInSet ? Cond::kEq : Cond::kNe, Reg::R0, 0, fail);
  return {};
}

}  // namespace nfbpf::codegen::matcher
