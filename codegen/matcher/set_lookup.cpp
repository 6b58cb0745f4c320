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

// The map value the set's catch-all element stands for (as chain/sets.cpp writes elements).
Result<ir::Bytes> catchall_value(const ir::Table& t, const ir::Set& s) {
  const ir::Element& e = *s.catchall;
  if (s.verdict_map) {
    if (!e.verdict) return failf(EINVAL, "set '{}': catch-all without a verdict", s.name);
    VmapValue v{static_cast<uint32_t>(e.verdict->kind), 0};
    if (e.verdict->kind == ir::VerdictKind::kJump || e.verdict->kind == ir::VerdictKind::kGoto) {
      auto it = std::find_if(t.chains.begin(), t.chains.end(), [&](const ir::Chain& ch) { return ch.name == e.verdict->chain; });
      if (it == t.chains.end()) return failf(ENOENT, "set '{}': catch-all jumps to unknown chain '{}'", s.name, e.verdict->chain);
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

// After bpf_map_lookup_elem: on a miss (r0 == NULL) and when the set has a catch-all element,
// r0 = a stack copy of its value, baked in as immediates (nft_set_catchall_lookup). The copy is
// allocated below the caller's mark so that it outlives the lookup's own temporaries; callers
// read r0 right after the lookup. A change of the catch-all changes the set's printed shape, so
// the daemon recompiles the program instead of updating the map in place (offload_hook.cpp).
Result<void> emit_catchall(EmitCtx& c, const ir::Set& s, int16_t value_slot) {
  if (!s.catchall) return {};
  auto v = catchall_value(c.table, s);
  if (!v) return std::unexpected(std::move(v).error());
  emit::Program& p = c.p;
  emit::JumpPatch hit = p.jmp_fwd(Cond::kNe, Reg::R0, 0);
  for (size_t off = 0; off < v->size(); off += 4) {
    uint32_t w = 0;
    std::memcpy(&w, v->data() + off, 4);
    p.st(Size::kW, kTmp, at(static_cast<int16_t>(value_slot + off)), static_cast<int32_t>(w));
  }
  p.mov(Reg::R0, kTmp);
  p.alu(AluOp::kAdd, Reg::R0, at(value_slot));
  return {};
}

Result<int16_t> catchall_slot(EmitCtx& c, const ir::Set& s) {
  if (!s.catchall) return int16_t{0};
  uint32_t n = s.verdict_map ? sizeof(VmapValue) : s.data_len > 0 ? (s.data_len + 3) & ~3u : 4;
  return c.stack.alloc(static_cast<uint16_t>((n + 7) & ~7u));
}

}  // namespace

SetMapKind set_map_kind(const ir::Set& s) {
  return (s.flags & ir::kSetInterval) ? SetMapKind::kLpm : SetMapKind::kHash;
}

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
  auto map = c.set_map(set_name);
  if (!map) return std::unexpected(std::move(map).error());
  emit::Program& p = c.p;
  auto value_slot = catchall_slot(c, *s);
  if (!value_slot) return std::unexpected(std::move(value_slot).error());
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
