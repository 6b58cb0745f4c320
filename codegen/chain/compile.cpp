#include "codegen/chain/compile.h"

#include <fmt/format.h>

#include <cstring>
#include <deque>
#include <memory>
#include <set>
#include <variant>

#include "codegen/chain/classify.h"
#include "codegen/chain/log.h"
#include "codegen/chain/statements.h"
#include "codegen/matcher/load.h"
#include "codegen/matcher/match.h"
#include "codegen/matcher/regblock.h"
#include "codegen/matcher/set_lookup.h"
#include "codegen/prologue/needs.h"
#include "codegen/prologue/prologue.h"
#include "codegen/runtime/counters.h"

namespace nfbpf::codegen::chain {

using emit::AluOp;
using emit::Cond;
using emit::Label;
using emit::Reg;
using emit::Size;

namespace {

// Conditional jumps have 16-bit offsets, and the verifier grows the code after our offsets are
// fixed: it inlines helper calls (an array or per-CPU array lookup, one per counted rule, becomes
// ~6 instructions) and rewrites context loads. A jump whose span no longer fits makes the load
// fail ("insn N cannot be patched due to 16-bit range", ENOMEM: 2 000 counting rules did). So
// every span we emit as a near jump stays under kNearSpan, which survives a 2.7x growth.
constexpr size_t kNearSpan = 12000;

// Programs up to this size keep every jump within a conditional jump's 16-bit offset.
constexpr size_t kNearInsns = kNearSpan;

// What the verifier charges a subprogram frame that uses no stack (interpreter rounding; the JIT
// charges 0).
constexpr int kSubprogFrameBytes = 32;

// What a chain subprogram returns.
constexpr int32_t kRetContinue = 0, kRetAccept = 1, kRetDrop = 2;

// Verdicts a step can produce without being the rule's verdict (verdict maps, register blocks).
void step_verdicts(const ir::Table& t, const ir::Step& s, std::vector<ir::Verdict>& out) {
  auto from_set = [&](const std::string& name) {
    if (const ir::Set* set = ir::find_set(t, name); set && set->verdict_map) {
      for (const auto& e : set->elements)
        if (e.verdict) out.push_back(*e.verdict);
      if (set->catchall && set->catchall->verdict) out.push_back(*set->catchall->verdict);
    }
  };
  if (const auto* vm = std::get_if<ir::VerdictMap>(&s)) from_set(vm->set);
  if (const auto* b = std::get_if<ir::RegisterBlock>(&s)) {
    for (const auto& op : b->ops) {
      if (const auto* lk = std::get_if<ir::reg::Lookup>(&op); lk && lk->dreg && *lk->dreg == 0) from_set(lk->set);
      if (const auto* im = std::get_if<ir::reg::Immediate>(&op); im && im->dreg == 0 && im->data.size() > 4) {
        int32_t code;
        std::memcpy(&code, im->data.data(), 4);
        std::string chain(im->data.begin() + 4, im->data.end());
        while (!chain.empty() && chain.back() == '\0') chain.pop_back();
        if (code == -3) out.push_back({ir::VerdictKind::kJump, chain});
        if (code == -4) out.push_back({ir::VerdictKind::kGoto, chain});
      }
    }
  }
}

class Compiler;

struct Frame {
  bool main = false;
  const ir::Chain* chain = nullptr;
  matcher::TempStack stack;
  Label* policy = nullptr;  // main only: the base chain's policy
  size_t table = 0;         // index of the chain's table
  matcher::ColdCode cold;   // slow paths, emitted after the frame's last instruction
  size_t cold_estimate = 0;  // instructions of the queued rule bodies (emit_inverted_multi), beyond kColdBodyInsns each
  size_t begin = 0, end = SIZE_MAX;  // the rules this program runs (a block of a split chain)
};

// Which part of a split base chain a program runs (blocks.h); the default is the whole chain.
struct BlockSpec {
  size_t begin = 0, end = SIZE_MAX;  // rule indices
  size_t index = 0;                  // slot in the blocks prog array
  bool last = true;                  // else: tail call index + 1 where the rules end
  bool far = false;                  // long jumps to the exits whatever the rule count (kFarRules)
};

// What compile_hook learns from compiling the whole chain: how many rules compiled as pending
// branches and, when per_rule is set (a measuring compile, never loaded: each rule's slow paths
// are emitted right behind it so that they count as its own), each base-chain rule's cost.
struct Measure {
  bool per_rule = false;
  size_t pending = 0;
  size_t cold_verify = 0;  // verifier work beyond the instructions (RuleCost::verify) of rules in cold code
  std::vector<RuleCost> rules;
  std::vector<std::pair<size_t, size_t>> cold;  // [begin, end) of the main frames' slow-path code
  std::vector<std::pair<size_t, size_t>> hot;   // [begin, end) of each base-chain rule's code
};

// The verifier's pending states a rule leaves behind (blocks.h): its conditional jumps in
// [from, to) (its code, slow paths in `cold` excepted) that leave the rule — to the next rule or
// to a slow path. It follows the fall-through and keeps the other branch on its stack; a match
// path ends at an exit and pops one, so this counts one more than it keeps for most rules (a safe
// side), exactly for "if key == X goto hit".
size_t pending_of(const emit::Program& p, size_t from, size_t to, const std::vector<std::pair<size_t, size_t>>& cold) {
  auto in_cold = [&](size_t i) {
    return std::any_of(cold.begin(), cold.end(), [&](const auto& r) { return i >= r.first && i < r.second; });
  };
  const auto& insns = p.insns();
  size_t n = 0;
  for (size_t i = from; i < std::min(to, insns.size()); ++i) {
    const uint8_t cls = insns[i].code & 0x07, op = insns[i].code & 0xf0;
    if ((cls != BPF_JMP && cls != BPF_JMP32) || op == BPF_JA || op == BPF_CALL || op == BPF_EXIT) continue;
    if (in_cold(i)) continue;
    if (i + 1 + insns[i].off >= to) ++n;
  }
  return n;
}

// Helper and kfunc calls in [from, to) (not BPF-to-BPF calls): the verifier patches the inlined
// ones one at a time, each time moving the whole program (BlockLimits::max_load_work).
size_t calls_of(const emit::Program& p, size_t from, size_t to) {
  const auto& insns = p.insns();
  size_t n = 0;
  for (size_t i = from; i < std::min(to, insns.size()); ++i)
    if (insns[i].code == (BPF_JMP | BPF_CALL) && insns[i].src_reg != BPF_PSEUDO_CALL) ++n;
  return n;
}

class Compiler {
 public:
  Compiler(const std::vector<HookChain>& bases, const flavor::FlavorOps& f, const CompileOptions& o, CompiledChain& out,
           BlockSpec block = {}, Measure* measure = nullptr, size_t pending_budget = SIZE_MAX)
      : bases_(bases), f_(f), opt_(o), out_(out), p_(out.program), block_(block), measure_(measure),
        pending_left_(pending_budget) {
    for (const auto& b : bases_) {
      if (std::find(tables_.begin(), tables_.end(), b.table) != tables_.end()) continue;
      tables_.push_back(b.table);
      chain_idx_.push_back(chain_index(*b.table));
    }
  }

  Result<void> run() {
    std::vector<const ir::Chain*> all;
    for (const auto& b : bases_) {
      use_table(b.table);
      NFBPF_TRYV(collect(*b.chain, 0));
      all.push_back(b.chain);
    }
    for (const auto& [ti, name] : order_) all.push_back(ir::find_chain(*tables_[ti], name));
    layout_ = prologue::layout_for(prologue::needs_of(all));
    layout_.ipv6_ext_headers = opt_.ipv6_ext_headers;
    if (policy_only()) {
      // A netfilter program runs for its own family only, so nothing needs parsing: the hook's
      // chains are all empty and their policies decide (one drop ends the hook).
      bool drop = std::any_of(bases_.begin(), bases_.end(), [](const HookChain& b) { return b.chain->policy == ir::VerdictKind::kDrop; });
      p_.ret(drop ? f_.drop : f_.accept);
      return p_.check();
    }

    Label accept_exit(p_), drop_exit(p_);
    accept_ = &accept_exit;
    accept_exit_ = &accept_exit;
    drop_ = &drop_exit;
    far_ = block_.far || total_rules() >= kFarRules;
    if (measure_ && measure_->per_rule) measure_->rules.assign(bases_.size() == 1 ? bases_[0].chain->rules.size() : 0, RuleCost{});
    if (!far_) {
      NFBPF_TRYV(prologue::emit_prologue(p_, f_, prologue_family(), layout_, accept_exit, drop_exit));
    } else {
      // The exits are bound after every rule, beyond a conditional jump's 16-bit reach in big
      // chains: the prologue's early exits return right behind it instead.
      Label near_accept(p_), near_drop(p_), rules(p_);
      NFBPF_TRYV(prologue::emit_prologue(p_, f_, prologue_family(), layout_, near_accept, near_drop));
      p_.jmp(rules);
      if (near_accept.referenced()) {
        p_.bind(near_accept);
        p_.ret(f_.accept);
      }
      if (near_drop.referenced()) {
        p_.bind(near_drop);
        p_.ret(f_.drop);
      }
      p_.bind(rules);
    }
    // The base chains in order: drop ends the hook, accept (verdict or policy) goes on to the next.
    std::deque<Frame> mains;
    std::deque<Label> policies;
    for (size_t i = 0; i < bases_.size(); ++i) {
      use_table(bases_[i].table);
      bool last = i + 1 == bases_.size();
      Label& policy = policies.emplace_back(p_);
      Label& next_chain = policies.emplace_back(p_);
      Frame& main = mains.emplace_back(Frame{.main = true, .chain = bases_[i].chain, .stack = {}, .policy = &policy,
                                             .table = ti_, .cold = {}, .begin = block_.begin, .end = block_.end});
      accept_ = last ? &accept_exit : &next_chain;
      auto live = emit_rules(main);
      if (live && *live && !block_.last) {
        // The rest of the chain is the next block's (blocks.h); the policy below runs only if the
        // tail call fails (an empty slot).
        p_.mov(Reg::R1, emit::kCtx);
        p_.ld_map_fd(Reg::R2, p_.map(kBlocksMapName));
        p_.mov(Reg::R3, static_cast<int32_t>(block_.index + 1));
        p_.call_helper(BPF_FUNC_tail_call);
      }
      deepest_ = std::min(deepest_, main.stack.deepest());
      if (!live) return std::unexpected(std::move(live).error().with_context("in chain " + bases_[i].chain->name));
      if (*live || used(main, policy)) {
        p_.bind(policy);
        NFBPF_TRYV(count_policy(main));
        bool drop = bases_[i].chain->policy == ir::VerdictKind::kDrop;
        if (drop) p_.ret(f_.drop);
        else if (last) p_.ret(f_.accept);
        else jump_to(next_chain);
      }
      if (!last) {
        if (!used(main, next_chain)) break;  // nothing gets past this chain: the rest is dead code
        p_.bind(next_chain);
      }
    }
    accept_ = &accept_exit;
    auto any_used = [&](const Label& l) {
      return l.referenced() || std::any_of(mains.begin(), mains.end(), [&](const Frame& m) { return m.cold.targets(l); });
    };
    if (any_used(accept_exit)) {
      p_.bind(accept_exit);
      p_.ret(f_.accept);
    }
    if (any_used(drop_exit)) {
      p_.bind(drop_exit);
      p_.ret(f_.drop);
    }
    const size_t cold_start = p_.insns().size();
    for (auto& m : mains) m.cold.emit_all();
    if (measure_) measure_->cold.emplace_back(cold_start, p_.insns().size());
    // Subprograms are emitted once each, only when something calls them (a chain reached only
    // from unreachable rules would be dead code, which the verifier refuses); one may be called
    // only from a later one, hence the loop.
    std::set<std::string> emitted;
    for (bool progress = true; progress;) {
      progress = false;
      for (const auto& [ti, name] : order_) {
        std::string k = label_key(ti, name);
        if (emitted.contains(k) || !labels_.at(k)->referenced()) continue;
        emitted.insert(k);
        progress = true;
        use_table(tables_[ti]);
        const ir::Chain* c = ir::find_chain(*t_, name);
        p_.bind(*labels_.at(k));
        p_.mov(emit::kCtx, Reg::R1);
        p_.mov(prologue::kPkt, Reg::R2);
        p_.mov(prologue::kL3Ptr, Reg::R3);
        p_.mov(prologue::kL4Ptr, Reg::R4);
        Frame sub{.main = false, .chain = c, .stack = {}, .policy = nullptr, .table = ti};
        auto sl = emit_rules(sub);
        if (!sl) return std::unexpected(std::move(sl).error().with_context("in chain " + name));
        if (*sl) p_.ret(kRetContinue);
        sub.cold.emit_all();
        deepest_ = std::min(deepest_, sub.stack.deepest());
        out_.subprograms.push_back(ti == 0 ? name : t_->name + "/" + name);
      }
    }
    // BPF allows 512 bytes of stack for all frames of a call chain together. Subprogram frames
    // use no stack (packet slots, bounce buffer and temporaries are the main frame's, reached
    // through r7); the verifier still charges an empty frame 32 bytes when it rounds for the
    // interpreter (0 with the JIT): count the worst case.
    auto round32 = [](int v) { return (v + 31) & ~31; };
    int total = round32(-deepest_) + max_depth_ * kSubprogFrameBytes;
    if (total > emit::kStackSize)
      return failf(EOPNOTSUPP, "jumps {} deep with {} bytes of matcher temporaries need {} bytes of BPF stack (512 max)",
                   max_depth_, prologue::kMainFreeTop - deepest_, total);
    if (cold_error_) return std::unexpected(*cold_error_);
    for (auto& m : cls_maps_.maps(tables_[0]->family, tables_[0]->name)) out_.sets.push_back(std::move(m));
    return p_.check();
  }

  // Emits the verdict; true when control falls through (continue).
  Result<bool> emit_verdict(const ir::Verdict& v, Label& next, Frame& fr) {
    switch (v.kind) {
      case ir::VerdictKind::kContinue:
        return true;
      case ir::VerdictKind::kAccept:
        if (fr.main) jump_to(*accept_);
        else p_.ret(kRetAccept);
        return false;
      case ir::VerdictKind::kDrop:
        if (fr.main) jump_to(*drop_);
        else p_.ret(kRetDrop);
        return false;
      case ir::VerdictKind::kReturn:
        if (fr.main) jump_to(*fr.policy);
        else p_.ret(kRetContinue);
        return false;
      case ir::VerdictKind::kJump:
      case ir::VerdictKind::kGoto: {
        auto it = labels_.find(label_key(ti_, v.chain));
        if (it == labels_.end()) return failf(ENOENT, "jump to unknown chain '{}'", v.chain);
        p_.mov(Reg::R1, emit::kCtx);
        p_.mov(Reg::R2, prologue::kPkt);
        p_.mov(Reg::R3, prologue::kL3Ptr);
        p_.mov(Reg::R4, prologue::kL4Ptr);
        p_.call_local(*it->second);
        bool jump = v.kind == ir::VerdictKind::kJump;
        if (!fr.main) {
          if (jump) p_.jmp(Cond::kEq, Reg::R0, kRetContinue, next);
          p_.exit();
          return false;
        }
        jump_if(Cond::kEq, Reg::R0, kRetContinue, jump ? next : *fr.policy);
        jump_if(Cond::kEq, Reg::R0, kRetAccept, *accept_);
        jump_to(*drop_);
        return false;
      }
      default:
        return failf(EINVAL, "bad verdict {}", static_cast<int>(v.kind));
    }
  }

  // r0 = non-NULL VmapValue*: jumps per the element's verdict; falls through for continue.
  Result<void> emit_vmap_dispatch(const ir::Set& s, Label& next, Frame& fr) {
    std::vector<ir::Verdict> kinds;
    auto add = [&](const ir::Element& e) {
      if (e.verdict && e.verdict->kind != ir::VerdictKind::kContinue &&
          std::find(kinds.begin(), kinds.end(), *e.verdict) == kinds.end())
        kinds.push_back(*e.verdict);
    };
    for (const auto& e : s.elements) add(e);
    if (s.catchall) add(*s.catchall);  // set_lookup.cpp hands its value over on a miss
    Label hold(p_);
    std::deque<Label> blocks;
    p_.ldx(Size::kW, Reg::R1, Reg::R0, 0);
    p_.ldx(Size::kW, Reg::R2, Reg::R0, 4);
    for (const auto& v : kinds) {
      Label& b = blocks.emplace_back(p_);
      if (v.kind == ir::VerdictKind::kJump || v.kind == ir::VerdictKind::kGoto) {
        auto skip = p_.jmp_fwd(Cond::kNe, Reg::R1, static_cast<int32_t>(v.kind));
        p_.jmp(Cond::kEq, Reg::R2, static_cast<int32_t>(chain_idx_[ti_].at(v.chain)), b);
      } else {
        p_.jmp(Cond::kEq, Reg::R1, static_cast<int32_t>(v.kind), b);
      }
    }
    p_.jmp(hold);  // continue (or a value this program was not compiled for)
    for (size_t i = 0; i < kinds.size(); ++i) {
      p_.bind(blocks[i]);
      auto falls = emit_verdict(kinds[i], next, fr);
      if (!falls) return std::unexpected(std::move(falls).error());
    }
    p_.bind(hold);
    return {};
  }

 private:
  class Verdicts : public matcher::VerdictEmitter {
   public:
    Verdicts(Compiler& c, Label& next, Frame& fr) : c_(c), next_(next), fr_(fr) {}
    Result<void> constant(const ir::Verdict& v) override {
      auto r = c_.emit_verdict(v, next_, fr_);
      if (!r) return std::unexpected(std::move(r).error());
      return {};
    }
    Result<void> from_vmap(const ir::Set& s) override { return c_.emit_vmap_dispatch(s, next_, fr_); }

   private:
    Compiler& c_;
    Label& next_;
    Frame& fr_;
  };

  Result<void> collect(const ir::Chain& c, int depth) {
    std::vector<ir::Verdict> vs;
    for (const auto& r : c.rules) {
      vs.push_back(r.verdict);
      for (const auto& s : r.steps) step_verdicts(*t_, s, vs);
    }
    for (const auto& v : vs) {
      if (v.kind != ir::VerdictKind::kJump && v.kind != ir::VerdictKind::kGoto) continue;
      const ir::Chain* target = ir::find_chain(*t_, v.chain);
      if (!target) return failf(ENOENT, "chain {} jumps to unknown chain '{}'", c.name, v.chain);
      if (target->base) return failf(EINVAL, "chain {} jumps to base chain '{}'", c.name, v.chain);
      max_depth_ = std::max(max_depth_, depth + 1);
      if (depth + 1 > kMaxJumpDepth)
        return failf(EOPNOTSUPP,
                     "chain '{}' (jumped to from '{}') would be call frame {} of a program: BPF allows {} "
                     "(the base chain and {} nested jumps); nft allows 16",
                     v.chain, c.name, depth + 2, kMaxJumpDepth + 1, kMaxJumpDepth);
      if (!labels_.contains(label_key(ti_, v.chain))) {
        labels_.emplace(label_key(ti_, v.chain), std::make_unique<Label>(p_));
        order_.emplace_back(ti_, v.chain);
      }
      NFBPF_TRYV(collect(*target, depth + 1));
    }
    return {};
  }

  matcher::EmitCtx ctx(Frame& fr) {
    return matcher::EmitCtx{
        .p = p_, .f = f_, .table = *t_, .layout = layout_, .stack = fr.stack,
        .set_map = [this](const std::string& set) { return set_map(set); },
        .skb_nfct_offset = opt_.skb_nfct_offset,
        .cold = &fr.cold,
    };
  }

  Result<std::string> set_map(const std::string& name) {
    for (const auto& m : out_.sets)
      if (m.set == name && m.table == t_->name && m.family == t_->family) return m.map_name;
    for (size_t i = 0; i < t_->sets.size(); ++i) {
      if (t_->sets[i].name != name) continue;
      auto m = build_set_map(t_->sets[i], chain_idx_[ti_], ti_ == 0 ? fmt::format("s{}", i) : fmt::format("t{}s{}", ti_, i));
      if (!m) return std::unexpected(std::move(m).error());
      m->table = t_->name;
      m->family = t_->family;
      out_.sets.push_back(std::move(*m));
      return out_.sets.back().map_name;
    }
    return failf(ENOENT, "set '{}' not found", name);
  }

  Result<SlotUse> slot(SlotAllocator StateSlots::*which, const char* what, SlotKey key) {
    if (!opt_.slots) return failf(EINVAL, "{} needs CompileOptions::slots", what);
    auto s = (opt_.slots->*which).get(key);
    if (!s) return std::unexpected(std::move(s).error());
    return SlotUse{std::move(key), s->index, s->fresh, 0};
  }

  // Chains with at least this many rules may put the exits out of a 16-bit jump's reach: their
  // verdicts jump with 32-bit offsets (gotol; the JIT emits the same jmp rel32 either way).
  static constexpr size_t kFarRules = 4000;
  void jump_to(Label& l) {
    if (far_) p_.jmp_long(l);
    else p_.jmp(l);
  }
  void jump_if(Cond c, Reg r, int32_t imm, Label& l) {
    if (far_) p_.jmp_far(c, r, imm, l);
    else p_.jmp(c, r, imm, l);
  }
  size_t total_rules() const {
    size_t n = 0;
    for (const auto& b : bases_) n += b.chain->rules.size();
    if (bases_.size() == 1) n = std::min(n, block_.end) - std::min(n, block_.begin);
    return n;
  }

  bool policy_only() const {
    if (f_.flavor != flavor::Flavor::kNetfilter || (opt_.slots && opt_.count_policy)) return false;
    return std::all_of(bases_.begin(), bases_.end(), [](const HookChain& b) { return b.chain->rules.empty(); });
  }

  // nft_do_chain updates the base chain's stats where the policy applies: count it in a slot
  // keyed by the chain, so the count outlives this program.
  Result<void> count_policy(Frame& main) {
    if (!opt_.slots || !opt_.count_policy) return {};
    auto s = slot(&StateSlots::counters, "a policy counter", policy_counter_key(t_->family, t_->name, main.chain->name));
    if (!s) return std::unexpected(std::move(s).error());
    matcher::EmitCtx c = ctx(main);
    emit_counter(c, s->slot);
    out_.counters.push_back(*s);
    out_.policy_counters.push_back(std::move(*s));
    return {};
  }

  // Result: whether control falls through to the next step.
  Result<bool> emit_step(const ir::Rule& rule, size_t i, Label& next, Frame& fr) {
    const ir::Step& step = rule.steps[i];
    matcher::EmitCtx c = ctx(fr);
    SlotKey key{t_->family, t_->name, fr.chain->name, rule.handle, static_cast<uint32_t>(i), {}};
    if (const auto* m = std::get_if<ir::Match>(&step); m && rule.merged && i == rule.merged->lookup_step)
      return emit_merged_lookup(rule, *m, next, fr);
    if (std::holds_alternative<ir::Counter>(step) && rule.merged && merged_slot_temp_ && i + 1 == rule.steps.size()) {
      emit_counter_from(c, *merged_slot_temp_);
      fr.stack.release_to(merged_mark_);
      merged_slot_temp_.reset();
      return true;
    }
    if (const auto* m = std::get_if<ir::Match>(&step)) {
      matcher::MatchPlan plan;
      if (i == 0 && run_.active && m->key.size() == 1 && m->key[0] == run_.field) {
        plan.reuse_r1 = true;
      } else if (i == 0 && run_.unavailable) {
        plan.unavailable = run_.unavailable;
      }
      auto in_r1 = matcher::emit_match(c, *m, next, plan);
      if (!in_r1) return std::unexpected(std::move(in_r1).error());
      if (i == 0) step0_in_r1_ = *in_r1;
      return true;
    }
    if (const auto* b = std::get_if<ir::RegisterBlock>(&step)) {
      Verdicts v(*this, next, fr);
      return matcher::emit_register_block(c, *b, next, v);
    }
    if (std::holds_alternative<ir::Counter>(step)) {
      auto s = slot(&StateSlots::counters, "a counter", key);
      if (!s) return std::unexpected(std::move(s).error());
      emit_counter(c, s->slot);
      out_.counters.push_back(std::move(*s));
      return true;
    }
    if (const auto* o = std::get_if<ir::ObjectRef>(&step)) {
      const SlotKey named{t_->family, t_->name, {}, 0, 0, o->kind + ":" + o->name};
      if (o->kind == "quota" && o->quota) {  // nft_quota_obj_eval: the object's own consumed bytes
        auto s = slot(&StateSlots::quotas, "a quota", named);
        if (!s) return std::unexpected(std::move(s).error());
        s->initial = o->quota->consumed;
        NFBPF_TRYV(emit_quota(c, *o->quota, s->slot, next));
        out_.quotas.push_back(std::move(*s));
        return true;
      }
      if (o->kind == "limit" && o->limit) {  // nft_limit_obj_eval: the object's own bucket
        auto s = slot(&StateSlots::limits, "a limit", named);
        if (!s) return std::unexpected(std::move(s).error());
        NFBPF_TRYV(emit_limit(c, *o->limit, s->slot, next));
        out_.limits.push_back(std::move(*s));
        return true;
      }
      if (o->kind != "counter")
        return failf(EOPNOTSUPP, "named {} objects are not supported by the code generator ('{}')", o->kind, o->name);
      auto s = slot(&StateSlots::counters, "a counter", SlotKey{t_->family, t_->name, {}, 0, 0, "counter:" + o->name});
      if (!s) return std::unexpected(std::move(s).error());
      emit_counter(c, s->slot);
      out_.counters.push_back(std::move(*s));
      return true;
    }
    if (const auto* q = std::get_if<ir::Quota>(&step)) {
      auto s = slot(&StateSlots::quotas, "a quota", key);
      if (!s) return std::unexpected(std::move(s).error());
      s->initial = q->consumed;
      NFBPF_TRYV(emit_quota(c, *q, s->slot, next));
      out_.quotas.push_back(std::move(*s));
      return true;
    }
    if (const auto* l = std::get_if<ir::Limit>(&step)) {
      auto s = slot(&StateSlots::limits, "a limit", key);
      if (!s) return std::unexpected(std::move(s).error());
      NFBPF_TRYV(emit_limit(c, *l, s->slot, next));
      out_.limits.push_back(std::move(*s));
      return true;
    }
    if (const auto* lg = std::get_if<ir::Log>(&step)) {
      NFBPF_TRYV(emit_log(c, *lg));  // log.h: a ring buffer record, the verdict unchanged
      return true;
    }
    if (const auto* sm = std::get_if<ir::SetMark>(&step)) {
      NFBPF_TRYV(emit_set_mark(c, *sm));
      return true;
    }
    if (const auto* vm = std::get_if<ir::VerdictMap>(&step)) {
      const ir::Set* s = ir::find_set(*t_, vm->set);
      if (!s || !s->verdict_map) return failf(EINVAL, "'{}' is not a verdict map", vm->set);
      int16_t mark = fr.stack.mark();
      NFBPF_TRYV(matcher::emit_lookup(c, vm->key, std::nullopt, vm->set, next));
      fr.stack.release_to(mark);
      p_.jmp(Cond::kEq, Reg::R0, 0, next);
      NFBPF_TRYV(emit_vmap_dispatch(*s, next, fr));
      return true;
    }
    return fail(EINVAL, "unknown step");
  }

  // The rules [ri, ri + classified->rules) of the frame's chain as one classified block: each
  // rule's counter slot (keyed as the linear code keys it, so listings stay exact) and verdict.
  Result<void> emit_classified_rules(size_t ri, Frame& fr) {
    if (run_.unavailable && used(fr, *run_.unavailable)) p_.bind(*run_.unavailable);  // the block clobbers r1
    run_ = RegRun{};
    const ir::Rule& head = fr.chain->rules[ri];
    std::vector<ClassifiedRule> rules;
    for (size_t j = 0; j < head.classified->rules; ++j) {
      const ir::Rule& r = fr.chain->rules[ri + j];
      ClassifiedRule cr{.verdict = r.verdict.kind};
      size_t counters = 0;
      for (size_t i = 0; i < r.steps.size(); ++i) {
        if (std::holds_alternative<ir::Match>(r.steps[i])) continue;
        if (!std::holds_alternative<ir::Counter>(r.steps[i]) || counters == cr.counter_slots.size())
          return failf(EINVAL, "classified block: rule {} has a step other than compares and {} counters", r.handle,
                       cr.counter_slots.size());
        auto s = slot(&StateSlots::counters, "a counter", SlotKey{t_->family, t_->name, fr.chain->name, r.handle, static_cast<uint32_t>(i), {}});
        if (!s) return std::unexpected(std::move(s).error());
        cr.counter_slots[counters++] = s->slot;
        out_.counters.push_back(std::move(*s));
      }
      rules.push_back(cr);
    }
    matcher::EmitCtx c = ctx(fr);
    Label none(p_);
    auto verdict = [&](ir::VerdictKind k) -> Result<void> {
      auto r = emit_verdict(ir::Verdict{k, {}}, none, fr);
      if (!r) return std::unexpected(std::move(r).error());
      return {};
    };
    auto r = emit_classified(c, *head.classified, rules, cls_maps_, none, verdict);
    if (!r) return std::unexpected(std::move(r).error().with_context(fmt::format("in the classified block at rule {}", head.handle)));
    p_.bind(none);
    return {};
  }

  // A rule merged from a counting run (translate/passes/merge_runs.h): the lookup's value is the
  // index of the rule the key belongs to; the map is filled with that rule's counter slot instead,
  // kept in a stack temporary until the rule's last step (the Counter) bumps it.
  Result<bool> emit_merged_lookup(const ir::Rule& rule, const ir::Match& m, Label& next, Frame& fr) {
    if (m.op != ir::Op::kInSet) return fail(EINVAL, "merged rule: its lookup step is not an in-set match");
    const ir::Set* set = ir::find_set(*t_, m.set);
    if (!set || set->data_len != 4) return failf(EINVAL, "merged rule: set '{}' is not a 4-byte data map", m.set);
    const uint32_t counter_step = static_cast<uint32_t>(rule.steps.size() - 1);
    std::vector<uint32_t> slots;
    for (uint64_t h : rule.merged->handles) {
      auto s = slot(&StateSlots::counters, "a counter", SlotKey{t_->family, t_->name, fr.chain->name, h, counter_step, {}});
      if (!s) return std::unexpected(std::move(s).error());
      slots.push_back(s->slot);
      out_.counters.push_back(std::move(*s));
    }
    matcher::EmitCtx c = ctx(fr);
    merged_mark_ = fr.stack.mark();
    auto tmp = fr.stack.alloc(8);
    if (!tmp) return std::unexpected(std::move(tmp).error());
    merged_slot_temp_ = *tmp;
    int16_t mark = fr.stack.mark();
    NFBPF_TRYV(matcher::emit_lookup(c, m.key, m.mask, m.set, next));
    fr.stack.release_to(mark);
    p_.jmp(Cond::kEq, Reg::R0, 0, next);
    p_.ldx(Size::kW, Reg::R1, Reg::R0, 0);
    p_.stx(Size::kW, matcher::kTmp, matcher::at(*tmp), Reg::R1);
    // The map was built from the IR set (values = indices): give it the slots.
    auto name = set_map(m.set);
    if (!name) return std::unexpected(std::move(name).error());
    for (auto& sm : out_.sets) {
      if (sm.map_name != *name) continue;
      for (auto& e : sm.entries) {
        uint32_t idx = 0;
        std::memcpy(&idx, e.value.data(), 4);
        if (idx >= slots.size()) return failf(EINVAL, "merged rule: set '{}' names rule {} of {}", m.set, idx, slots.size());
        std::memcpy(e.value.data(), &slots[idx], 4);
      }
    }
    return true;
  }

  // A run of rules that compare the same register-sized field first: the first loads it into r1,
  // the others reuse r1 (every path into them comes from the previous rule's failed compare,
  // which leaves r1 intact). A packet where the field cannot be read skips the whole run.
  struct RegRun {
    bool active = false;
    ir::Field field;
    Label* unavailable = nullptr;  // bound at the first rule after the run
    size_t start = 0;              // instruction index of the run's first rule
  };
  // Conditional jumps reach 32767 instructions: a run whose unavailable label would lie further
  // from its first rule's load ends here, and the next rule starts a new run (one load more per
  // ~10 000 rules; without it 100 000 unmerged rules failed to compile).
  static constexpr size_t kMaxRunInsns = kNearSpan;
  static constexpr size_t kColdFlushInsns = kNearSpan * 2 / 3;  // + the queued bodies (kColdBodyInsns each)
  static constexpr size_t kColdBodyInsns = 32;

  // Jumped to now, or by slow-path code queued for the end of the frame.
  static bool used(const Frame& fr, const Label& l) { return l.referenced() || fr.cold.targets(l); }

  static bool starts_with_field(const ir::Rule& r, const ir::Field& f) {
    if (r.steps.empty()) return false;
    const auto* m = std::get_if<ir::Match>(&r.steps[0]);
    return m && m->key.size() == 1 && m->key[0] == f && m->op != ir::Op::kInSet && m->op != ir::Op::kNotInSet;
  }

  // Whether r1 still holds step 0's key on every path to the rule's `next` label: step 0 is the
  // only step that can fail (the others are counters) and the verdict never comes back.
  static bool keeps_r1(const ir::Rule& r) {
    for (size_t i = 1; i < r.steps.size(); ++i)
      if (!std::holds_alternative<ir::Counter>(r.steps[i])) return false;
    auto k = r.verdict.kind;
    return k == ir::VerdictKind::kAccept || k == ir::VerdictKind::kDrop || k == ir::VerdictKind::kReturn;
  }

  // true when control reaches the end of the chain.
  Result<bool> emit_rules(Frame& fr) {
    run_ = RegRun{};
    size_t cold_mark = p_.insns().size();
    const size_t end = std::min(fr.end, fr.chain->rules.size());
    const bool measuring = measure_ && measure_->per_rule && fr.main && bases_.size() == 1;
    for (size_t ri = std::min(fr.begin, end); ri < end; ++ri) {
      const ir::Rule& rule = fr.chain->rules[ri];
      const size_t rule_start = p_.insns().size();
      if (rule.classified && ri + rule.classified->rules <= end) {
        // A classified block (chain/classify.h), when this program holds all of it.
        NFBPF_TRYV(emit_classified_rules(ri, fr));
        if (measuring) measure_->rules[ri] = RuleCost{p_.insns().size() - rule_start, pending_of(p_, rule_start, p_.insns().size(), {}),
                                                      0, calls_of(p_, rule_start, p_.insns().size())};
        else if (measure_ && fr.main) measure_->hot.emplace_back(rule_start, p_.insns().size());
        ri += rule.classified->rules - 1;
        continue;
      }
      // Queued slow paths are about 25 instructions each (a slice, a load, a jump back).
      if (p_.insns().size() - cold_mark + kColdBodyInsns * fr.cold.queued() + fr.cold_estimate > kColdFlushInsns) {
        // Slow paths (cold code) are reached by conditional jumps, 16-bit offsets: in long chains
        // they are emitted every kColdFlushInsns instructions, jumped over, not only at the end.
        Label over(p_);
        p_.jmp(over);
        const size_t cold_start = p_.insns().size();
        fr.cold.emit_all();
        if (measure_ && fr.main) measure_->cold.emplace_back(cold_start, p_.insns().size());
        p_.bind(over);
        cold_mark = p_.insns().size();
        fr.cold_estimate = 0;
      }
      const std::optional<size_t> hot =
          pending_left_ > 0 && !(run_.active && invertible(rule, fr)) ? hot_step(rule) : std::nullopt;
      if (hot) {
        // A rule of several tests: one not-taken compare of one field on the hot path (r1 holds
        // it for the whole run), the rest of the rule as cold code that comes back with r1
        // restored. The verifier keeps one pending state per rule, as for one-field rules.
        const ir::Field& field = std::get<ir::Match>(rule.steps[*hot]).key[0];
        if (run_.active && !(field == run_.field)) {
          if (used(fr, *run_.unavailable)) p_.bind(*run_.unavailable);
          run_ = RegRun{};
        }
        if (!run_.active) {
          run_.unavailable = &fr.cold.label(p_);
          run_.start = p_.insns().size();
          matcher::EmitCtx c = ctx(fr);
          auto ld = matcher::load_field(c, field, *run_.unavailable);
          if (!ld) return std::unexpected(std::move(ld).error().with_context(
                     fmt::format("in rule {} step {} of chain {}", rule.handle, *hot, fr.chain->name)));
          run_.field = field;
          run_.active = true;
        }
        const size_t multi_start = p_.insns().size();
        NFBPF_TRYV(emit_inverted_multi(rule, *hot, fr));
        --pending_left_;
        if (p_.insns().size() - run_.start >= kMaxRunInsns) {
          if (used(fr, *run_.unavailable)) p_.bind(*run_.unavailable);
          run_ = RegRun{};
        }
        if (measuring) {
          const size_t hot_end = p_.insns().size();
          flush_cold(fr);
          const size_t insns = p_.insns().size() - rule_start;
          measure_->rules[ri] = RuleCost{insns, pending_of(p_, rule_start, hot_end, {}), kColdVerifyFactor * insns,
                                         calls_of(p_, rule_start, p_.insns().size())};
          cold_mark = p_.insns().size();
          fr.cold_estimate = 0;
        } else if (measure_ && fr.main) {
          measure_->hot.emplace_back(rule_start, p_.insns().size());
          // Its cold body is emitted later: counted by its estimate.
          measure_->cold_verify += (kColdVerifyFactor - 1) * (p_.insns().size() - multi_start + cold_body_estimate(rule));
        }
        continue;
      }
      if (run_.active && pending_left_ > 0 && invertible(rule, fr)) {
        // The hot path of a run is one not-taken compare per rule; its counters and verdict are
        // cold code.
        NFBPF_TRYV(emit_inverted(rule, fr));
        --pending_left_;
        if (p_.insns().size() - run_.start >= kMaxRunInsns) {  // keep `unavailable` in reach
          if (used(fr, *run_.unavailable)) p_.bind(*run_.unavailable);
          run_ = RegRun{};
        }
        if (measuring) {
          const size_t hot_end = p_.insns().size();
          flush_cold(fr);
          measure_->rules[ri] = RuleCost{p_.insns().size() - rule_start, pending_of(p_, rule_start, hot_end, {}), 0,
                                        calls_of(p_, rule_start, p_.insns().size())};
          cold_mark = p_.insns().size();
        } else if (measure_ && fr.main) {
          measure_->hot.emplace_back(rule_start, p_.insns().size());
        }
        continue;
      }
      if (run_.active && !starts_with_field(rule, run_.field)) {
        if (used(fr, *run_.unavailable)) p_.bind(*run_.unavailable);
        run_ = RegRun{};
      }
      if (!run_.active && !rule.steps.empty()) {
        if (const auto* m = std::get_if<ir::Match>(&rule.steps[0]); m && m->key.size() == 1 && keeps_r1(rule)) {
          run_.unavailable = &fr.cold.label(p_);
          run_.start = p_.insns().size();
        }
      }
      step0_in_r1_ = false;
      Label& next = fr.cold.label(p_);  // outlives the rule: slow paths jump to it
      bool falls = true;
      for (size_t i = 0; i < rule.steps.size() && falls; ++i) {
        auto r = emit_step(rule, i, next, fr);
        if (!r) return std::unexpected(std::move(r).error().with_context(
                   fmt::format("in rule {} step {} of chain {}", rule.handle, i, fr.chain->name)));
        falls = *r;
      }
      if (falls) {
        auto r = emit_verdict(rule.verdict, next, fr);
        if (!r) return std::unexpected(std::move(r).error().with_context(fmt::format("in rule {}", rule.handle)));
        falls = *r;
      }
      if (used(fr, next)) {
        p_.bind(next);
        falls = true;
      }
      // Continue (or start) a run when this rule leaves its field in r1 for the next one.
      if (step0_in_r1_ && keeps_r1(rule) && run_.unavailable && p_.insns().size() - run_.start < kMaxRunInsns) {
        if (!run_.active) run_.field = std::get<ir::Match>(rule.steps[0]).key[0];
        run_.active = true;
      } else if (run_.unavailable) {
        if (used(fr, *run_.unavailable)) p_.bind(*run_.unavailable);
        run_ = RegRun{};
      }
      if (!falls && run_.unavailable && used(fr, *run_.unavailable)) {
        // Packets whose field could not be read go on with the rules after the run.
        p_.bind(*run_.unavailable);
        run_ = RegRun{};
        falls = true;
      }
      if (measuring) {
        const size_t hot_end = p_.insns().size();
        flush_cold(fr);
        measure_->rules[ri] = RuleCost{p_.insns().size() - rule_start, pending_of(p_, rule_start, hot_end, {}), 0,
                                        calls_of(p_, rule_start, p_.insns().size())};
        cold_mark = p_.insns().size();
      } else if (measure_ && fr.main) {
        measure_->hot.emplace_back(rule_start, p_.insns().size());
      }
      if (!falls) return false;  // the rest of the chain is unreachable
    }
    if (run_.unavailable && used(fr, *run_.unavailable)) p_.bind(*run_.unavailable);
    run_ = RegRun{};
    return true;
  }

  // A rule of an active register run (r1 holds its field on every path here) whose only test is
  // `field == constant` on a register-sized field and whose other steps are counters, ending in
  // accept/drop/return: compiled as "if r1 == X goto hit" (emit_inverted).
  bool invertible(const ir::Rule& r, const Frame& fr) const {
    if (!starts_with_field(r, run_.field) || !keeps_r1(r)) return false;
    const auto& m = std::get<ir::Match>(r.steps[0]);
    if (m.op != ir::Op::kEq && m.op != ir::Op::kNe) return false;
    if (m.mask || m.key[0].len > 4 || m.value.size() != m.key[0].len) return false;
    // Merged rules keep their counter slot in a temporary (emit_merged_lookup): not this shape.
    if (r.merged) return false;
    (void)fr;
    return true;
  }
  Result<void> emit_inverted(const ir::Rule& rule, Frame& fr) {
    const auto& m = std::get<ir::Match>(rule.steps[0]);
    uint32_t imm = 0;
    for (size_t i = 0; i < m.value.size(); ++i) imm |= uint32_t(m.value[i]) << (8 * i);  // as emit_cmp
    Label& hit = fr.cold.label(p_);
    p_.jmp32(m.op == ir::Op::kEq ? Cond::kEq : Cond::kNe, Reg::R1, static_cast<int32_t>(imm), hit);
    std::vector<uint32_t> slots;
    for (size_t i = 1; i < rule.steps.size(); ++i) {
      SlotKey key{t_->family, t_->name, fr.chain->name, rule.handle, static_cast<uint32_t>(i), {}};
      auto s = slot(&StateSlots::counters, "a counter", key);
      if (!s) return std::unexpected(std::move(s).error().with_context(fmt::format("in rule {}", rule.handle)));
      slots.push_back(s->slot);
      out_.counters.push_back(std::move(*s));
    }
    // The verdict: a return value, or (main frame) a jump to where accept goes on as it is now
    // (accept_ moves on with each base chain of a hook) or to the policy. The exits are just
    // "r0 = verdict; exit": return directly.
    Label* target = nullptr;
    int32_t ret = kRetContinue;
    switch (rule.verdict.kind) {
      case ir::VerdictKind::kAccept:
        ret = fr.main ? f_.accept : kRetAccept;
        if (fr.main && accept_ != accept_exit_) target = accept_;
        break;
      case ir::VerdictKind::kDrop:
        ret = fr.main ? f_.drop : kRetDrop;
        break;
      default:  // return (keeps_r1)
        ret = kRetContinue;
        if (fr.main) target = fr.policy;
        break;
    }
    if (target) fr.cold.will_jump_to(*target);
    fr.cold.add([this, &fr, &hit, slots = std::move(slots), target, ret] {
      p_.bind(hit);
      matcher::EmitCtx c = ctx(fr);
      for (uint32_t sl : slots) emit_counter(c, sl);
      if (target) jump_to(*target);
      else p_.ret(ret);
    });
    return {};
  }

  // A rule of matches (and counters after them) with at least two matches, one of which is
  // `field == constant` on a 1-, 2- or 4-byte field: that one goes on the hot path as a not-taken
  // compare in a register run (emit_inverted_multi); the others may be any matches, their failure
  // returns to the run. Matches are pure tests (a field that cannot be read fails like a
  // mismatch), so which one is tested first does not change the verdict; a counter before the
  // chosen one would see fewer packets, so it is chosen among the matches before any counter:
  // the active run's field if a rule tests it, else the first packet-header field.
  std::optional<size_t> hot_step(const ir::Rule& r) const {
    if (r.merged) return std::nullopt;
    size_t matches = 0, before_counter = r.steps.size();
    for (size_t i = 0; i < r.steps.size(); ++i) {
      if (std::holds_alternative<ir::Match>(r.steps[i])) ++matches;
      else if (!std::holds_alternative<ir::Counter>(r.steps[i])) return std::nullopt;
      else before_counter = std::min(before_counter, i);
    }
    if (matches < 2) return std::nullopt;  // counters alone: invertible()'s one-field shape
    auto eq_const = [&](size_t i) -> const ir::Match* {
      const auto* m = std::get_if<ir::Match>(&r.steps[i]);
      if (!m || m->key.size() != 1 || m->op != ir::Op::kEq || m->mask) return nullptr;
      const uint32_t len = m->key[0].len;
      if ((len != 1 && len != 2 && len != 4) || m->value.size() != len) return nullptr;
      return m;
    };
    if (run_.active)
      for (size_t i = 0; i < before_counter; ++i)
        if (const auto* m = eq_const(i); m && m->key[0] == run_.field) return i;
    for (size_t i = 0; i < before_counter; ++i)
      if (const auto* m = eq_const(i); m && run_starter(m->key[0])) return i;
    return std::nullopt;
  }
  // Fields a multi-field run may load itself: packet header fields read as one register.
  static bool run_starter(const ir::Field& f) {
    return (f.base == ir::Base::kNetwork || f.base == ir::Base::kTransport) && !f.host_order &&
           (f.len == 1 || f.len == 2 || f.len == 4);
  }
  // Rough size of a rule body in cold code with its slow paths, on the large side (measured: 36
  // for `meta l4proto tcp tcp dport P`, a transport load's slow path is 26 of them).
  static size_t cold_body_estimate(const ir::Rule& r) {
    size_t n = 8;
    for (size_t i = 1; i < r.steps.size(); ++i) n += std::holds_alternative<ir::Counter>(r.steps[i]) ? 12 : 20;
    return n;
  }

  // r1 holds the run's field. Hot path: `if w1 == X goto body` (not taken for most packets). The
  // body (cold code) runs the rule's other steps; when one fails it sets w1 = X again (r1 held
  // exactly X there: a zero-extended load) and jumps back behind the compare. For the verifier the
  // body is one pending state per rule, explored once when the hot path has reached its end; the
  // way back meets a state it has explored (r1 unknown then) and is pruned there.
  Result<void> emit_inverted_multi(const ir::Rule& rule, size_t hot, Frame& fr) {
    const auto& m = std::get<ir::Match>(rule.steps[hot]);
    uint32_t imm = 0;
    for (size_t i = 0; i < m.value.size(); ++i) imm |= uint32_t(m.value[i]) << (8 * i);  // as emit_cmp
    Label& hit = fr.cold.label(p_);
    Label& resume = fr.cold.label(p_);
    p_.jmp32(Cond::kEq, Reg::R1, static_cast<int32_t>(imm), hit);
    p_.bind(resume);
    // Where the verdict goes, fixed now (accept_ moves on with each base chain of a hook); the
    // labels it will jump to are declared so that they get bound.
    Label* accept_to = accept_;
    if (fr.main) {
      switch (rule.verdict.kind) {
        case ir::VerdictKind::kAccept:
          if (accept_to != accept_exit_) fr.cold.will_jump_to(*accept_to);
          break;
        case ir::VerdictKind::kDrop:
        case ir::VerdictKind::kContinue:
          break;
        case ir::VerdictKind::kReturn:
          fr.cold.will_jump_to(*fr.policy);
          break;
        case ir::VerdictKind::kJump:
        case ir::VerdictKind::kGoto:
          fr.cold.will_jump_to(*accept_to);
          fr.cold.will_jump_to(*drop_);
          if (rule.verdict.kind == ir::VerdictKind::kGoto) fr.cold.will_jump_to(*fr.policy);
          break;
        default:
          return failf(EINVAL, "bad verdict {}", static_cast<int>(rule.verdict.kind));
      }
    }
    // Counter slots now, in rule order (as the other shapes allocate them), not when the body is
    // emitted.
    std::vector<std::optional<uint32_t>> slots(rule.steps.size());
    for (size_t i = 0; i < rule.steps.size(); ++i) {
      if (!std::holds_alternative<ir::Counter>(rule.steps[i])) continue;
      auto sl = slot(&StateSlots::counters, "a counter",
                     SlotKey{t_->family, t_->name, fr.chain->name, rule.handle, static_cast<uint32_t>(i), {}});
      if (!sl) return std::unexpected(std::move(sl).error().with_context(fmt::format("in rule {}", rule.handle)));
      slots[i] = sl->slot;
      out_.counters.push_back(std::move(*sl));
    }
    fr.cold_estimate += cold_body_estimate(rule);
    fr.cold.add([this, &fr, &rule, &hit, &resume, imm, accept_to, hot, slots = std::move(slots)] {
      p_.bind(hit);
      Label& back = fr.cold.label(p_);
      Label* saved = accept_;
      accept_ = accept_to;
      // Bodies are emitted after the hook's last base chain, whose table is current then: jumps
      // (label_key) and sets resolve in the rule's own table.
      const ir::Table* saved_table = t_;
      use_table(tables_[fr.table]);
      // The body is not in any run (emit_step reuses r1 for a step 0 in the current run).
      const RegRun saved_run = run_;
      const bool saved_in_r1 = step0_in_r1_;
      run_ = RegRun{};
      Result<bool> falls = true;
      for (size_t i = 0; i < rule.steps.size() && falls && *falls; ++i) {
        if (i == hot) continue;
        if (slots[i]) {
          matcher::EmitCtx c = ctx(fr);
          emit_counter(c, *slots[i]);
        } else {
          falls = emit_step(rule, i, back, fr);
        }
      }
      run_ = saved_run;
      step0_in_r1_ = saved_in_r1;
      if (falls && *falls) {
        if (fr.main && rule.verdict.kind == ir::VerdictKind::kAccept && accept_to == accept_exit_) {
          p_.ret(f_.accept);  // the exits are "r0 = verdict; exit": return directly
          falls = false;
        } else if (fr.main && rule.verdict.kind == ir::VerdictKind::kDrop) {
          p_.ret(f_.drop);
          falls = false;
        } else {
          falls = emit_verdict(rule.verdict, back, fr);
        }
      }
      accept_ = saved;
      use_table(saved_table);
      if (!falls) {
        if (!cold_error_) cold_error_ = std::move(falls).error().with_context(
            fmt::format("in rule {} of chain {}", rule.handle, fr.chain->name));
        return;
      }
      if (*falls || used(fr, back)) {
        p_.bind(back);
        p_.mov32(Reg::R1, static_cast<int32_t>(imm));
        p_.jmp(resume);
      }
    });
    return {};
  }

  void flush_cold(Frame& fr) {
    Label over(p_);
    p_.jmp(over);
    fr.cold.emit_all();
    p_.bind(over);
  }

  void use_table(const ir::Table* t) {
    ti_ = static_cast<size_t>(std::find(tables_.begin(), tables_.end(), t) - tables_.begin());
    t_ = t;
  }
  static std::string label_key(size_t ti, const std::string& chain) { return fmt::format("{}/{}", ti, chain); }
  // One family for the prologue: the tables' own, or inet when they differ (netfilter programs
  // are attached per family, so the hook's family decides at run time).
  ir::Family prologue_family() const {
    ir::Family fam = tables_[0]->family;
    for (const auto* t : tables_)
      if (t->family != fam) return ir::Family::kInet;
    return fam;
  }

  const std::vector<HookChain>& bases_;
  std::vector<const ir::Table*> tables_;
  std::vector<ChainIndex> chain_idx_;
  const ir::Table* t_ = nullptr;
  size_t ti_ = 0;
  const flavor::FlavorOps& f_;
  const CompileOptions& opt_;
  CompiledChain& out_;
  emit::Program& p_;
  prologue::Layout layout_;
  std::map<std::string, std::unique_ptr<Label>> labels_;
  std::vector<std::pair<size_t, std::string>> order_;
  Label* accept_ = nullptr;
  Label* accept_exit_ = nullptr;  // the program's own accept exit (accept_ may be the next chain)
  Label* drop_ = nullptr;
  int max_depth_ = 0;
  RegRun run_;
  bool step0_in_r1_ = false;
  std::optional<int16_t> merged_slot_temp_;  // emit_merged_lookup's slot, until the rule's Counter
  int16_t merged_mark_ = 0;
  bool far_ = false;  // see kFarRules
  int16_t deepest_ = prologue::kMainFreeTop;
  BlockSpec block_;
  Measure* measure_ = nullptr;
  size_t pending_left_ = SIZE_MAX;
  ClassifyMaps cls_maps_{std::to_string(block_.index)};  // classify.h: one pair of arrays per program  // rules that may still compile as a pending branch (blocks.h)
  std::optional<Error> cold_error_;  // the first error of a rule body emitted as cold code
};

}  // namespace

Result<CompiledChain> compile_hook(const std::vector<HookChain>& chains, flavor::Flavor f, const CompileOptions& opt) {
  if (chains.empty()) return fail(EINVAL, "no base chain to compile");
  for (const auto& hc : chains) {
    if (!hc.chain->base) return failf(EINVAL, "chain '{}' is not a base chain", hc.chain->name);
    // A nat chain sees only the first packet of each connection and its verdicts rewrite
    // addresses: running it as a filter on every packet would be silently wrong.
    if (hc.chain->base->type == ir::ChainType::kNat)
      return failf(EOPNOTSUPP, "chain '{}': nat chains are not supported by the BPF code generator", hc.chain->name);
  }
  const ir::Chain& first = *chains[0].chain;
  const std::string name = opt.prog_name.empty() ? first.name : opt.prog_name;
  auto context = [&](Error e) {
    return std::unexpected(std::move(e).with_context(
        fmt::format("compiling {} chain {}{} for {}", chains[0].table->name, first.name,
                    chains.size() > 1 ? fmt::format(" and {} more", chains.size() - 1) : "", flavor::flavor_name(f))));
  };
  const flavor::FlavorOps& ops = flavor::flavor_ops(f);
  if (chains.size() > 1) {
    // Several base chains share the hook: not split (yet); the pending branches are kept within
    // the verifier's limit instead (rules past it compile in the two-jump form).
    CompiledChain out{.program = emit::Program(name), .flavor = f};
    auto r = Compiler(chains, ops, opt, out, {}, nullptr, opt.blocks.max_pending).run();
    if (!r) return context(std::move(r).error());
    return out;
  }
  // First the whole chain in one program.
  CompiledChain out{.program = emit::Program(name), .flavor = f};
  Measure count;
  Result<void> whole = Compiler(chains, ops, opt, out, {}, &count).run();
  // Slots this first compile allocated are fresh (to be initialised) although any later compile
  // of the same chain finds them allocated.
  std::set<SlotKey> fresh;
  for (auto* uses : {&out.counters, &out.quotas, &out.limits})
    for (const SlotUse& u : *uses)
      if (u.fresh) fresh.insert(u.key);
  auto keep_fresh = [&](CompiledChain& cc) {
    for (auto* uses : {&cc.counters, &cc.quotas, &cc.limits, &cc.policy_counters})
      for (SlotUse& u : *uses) u.fresh = u.fresh || fresh.contains(u.key);
  };
  if ((whole || whole.error().err == EINVAL) && out.program.insns().size() > kNearInsns) {
    // A big program: its exits may be out of a conditional jump's reach, now (few rules but big
    // ones: EINVAL) or once the verifier has grown the code (kNearSpan).
    out = CompiledChain{.program = emit::Program(name), .flavor = f};
    count = Measure{};
    whole = Compiler(chains, ops, opt, out, {.far = true}, &count).run();
    keep_fresh(out);
  }
  for (const auto& [from, to] : count.hot) count.pending += pending_of(out.program, from, to, count.cold);
  const size_t whole_insns = out.program.insns().size();
  const bool fits = whole_insns <= opt.blocks.max_insns && count.pending <= opt.blocks.max_pending &&
                    (whole_insns + count.cold_verify) * opt.blocks.verify_scale <= opt.blocks.max_verify &&
                    within_soft_budgets(whole_insns, calls_of(out.program, 0, whole_insns),
                                        whole_insns + count.cold_verify, opt.blocks);
  if (fits && whole) return out;
  // A program too big may also have jumps out of range (EINVAL from Program::check): the blocks
  // will not.
  if (!whole && (fits || whole.error().err != EINVAL)) return context(std::move(whole).error());
  // Too big: measure it rule by rule (never loaded), then compile the blocks.
  CompiledChain measured{.program = emit::Program(name), .flavor = f};
  Measure measure{.per_rule = true};
  if (auto r = Compiler(chains, ops, opt, measured, {}, &measure).run(); !r && r.error().err != EINVAL)
    return context(std::move(r).error());
  const size_t total = measured.program.insns().size();
  size_t rules_insns = 0;
  for (const RuleCost& r : measure.rules) rules_insns += r.insns;
  const size_t fixed = total - std::min(total, rules_insns);
  auto starts = plan_blocks(measure.rules, fixed, opt.blocks);
  if (!starts) return context(std::move(starts).error());
  CompiledChain split{.program = emit::Program(name), .flavor = f};
  std::map<const std::vector<SlotUse>*, std::set<SlotKey>> merged_keys;
  for (size_t k = 0; k < starts->size(); ++k) {
    BlockSpec spec{.begin = (*starts)[k], .end = k + 1 < starts->size() ? (*starts)[k + 1] : SIZE_MAX, .index = k,
                   .last = k + 1 == starts->size()};
    size_t estimate = fixed;
    for (size_t r = spec.begin; r < std::min(spec.end, measure.rules.size()); ++r) estimate += measure.rules[r].insns;
    spec.far = estimate > kNearInsns;
    CompiledChain block{.program = emit::Program(k == 0 ? name : fmt::format("{}_b{}", name, k)), .flavor = f};
    auto r = Compiler(chains, ops, opt, block, spec, nullptr, opt.blocks.max_pending).run();
    if (!r) return context(std::move(r).error().with_context(fmt::format("block {} of {} (rules from index {})", k,
                                                                          starts->size(), spec.begin)));
    for (auto& sm : block.sets)
      if (std::none_of(split.sets.begin(), split.sets.end(), [&](const SetMap& o) { return o.map_name == sm.map_name; }))
        split.sets.push_back(std::move(sm));
    auto merge = [&](std::vector<SlotUse>& into, std::vector<SlotUse>& from) {
      std::set<SlotKey>& seen = merged_keys[&into];
      for (auto& u : from) {  // once each (every block has the policy and may share named objects)
        if (!seen.insert(u.key).second) continue;
        u.fresh = u.fresh || fresh.contains(u.key);
        into.push_back(std::move(u));
      }
    };
    merge(split.counters, block.counters);
    merge(split.quotas, block.quotas);
    merge(split.limits, block.limits);
    merge(split.policy_counters, block.policy_counters);
    for (auto& sp : block.subprograms)
      if (std::find(split.subprograms.begin(), split.subprograms.end(), sp) == split.subprograms.end())
        split.subprograms.push_back(sp);
    if (k == 0) split.program = std::move(block.program);
    else split.blocks.push_back(std::move(block.program));
  }
  split.block_first_rule = std::move(*starts);
  return split;
}

Result<CompiledChain> compile_chain(const ir::Table& t, const ir::Chain& base, flavor::Flavor f,
                                    const CompileOptions& opt) {
  return compile_hook({HookChain{&t, &base}}, f, opt);
}

}  // namespace nfbpf::codegen::chain
