// Chain walking (nft_do_chain), hook setup (which base chains, which pktinfo) and the stateful
// statements (counter, quota, limit, mark).

#include "translate/eval/eval.h"

#include <fmt/format.h>

#include <algorithm>
#include <variant>

#include "translate/eval/load.h"
#include "translate/eval/sets.h"
#include "translate/eval/skb.h"
#include "translate/eval/steps.h"
#include "translate/ir/fields.h"

namespace nfbpf::eval {

namespace {

constexpr size_t kJumpStackSize = 16;  // NFT_JUMP_STACK_SIZE
constexpr uint8_t kNfprotoIpv4 = 2, kNfprotoIpv6 = 10, kNfprotoNetdev = 5;
constexpr uint16_t kEthIp = 0x0800, kEthIp6 = 0x86dd;

bool is_inet_hook(ir::Hook h) {
  return h == ir::Hook::kPrerouting || h == ir::Hook::kInput || h == ir::Hook::kForward || h == ir::Hook::kOutput ||
         h == ir::Hook::kPostrouting;
}

Skb make_skb(const PacketContext& ctx, std::span<const uint8_t> frame) {
  Skb s;
  s.buf = frame;
  s.network = ctx.l2_len;
  // At netdev egress skb->data is still the frame start; everywhere else it is the L3 header.
  s.data = (ctx.family == ir::Family::kNetdev && ctx.hook == ir::Hook::kEgress) ? 0 : ctx.l2_len;
  if (ctx.l2_len > 0) s.mac = 0;
  return s;
}

uint16_t skb_protocol(const PacketContext& ctx, std::span<const uint8_t> frame) {
  if (ctx.protocol) return *ctx.protocol;
  if (ctx.l2_len >= 14 && frame.size() >= ctx.l2_len)
    return static_cast<uint16_t>(frame[ctx.l2_len - 2] << 8 | frame[ctx.l2_len - 1]);
  if (frame.size() > ctx.l2_len) {
    uint8_t v = frame[ctx.l2_len] >> 4;
    if (v == 4) return kEthIp;
    if (v == 6) return kEthIp6;
  }
  return 0;
}

// The environment a chain of `table_family` sees for this packet. nullopt with `verdict` set
// when the hook decides before any rule runs (inet ingress: non-IP accepted, bad IP dropped).
std::optional<Env> make_env(ir::Family table_family, const PacketContext& ctx, std::span<const uint8_t> frame,
                            std::optional<ir::VerdictKind>& verdict, std::string& note) {
  Env env;
  env.ctx = &ctx;
  env.skb = make_skb(ctx, frame);
  env.protocol = skb_protocol(ctx, frame);
  env.mark = ctx.mark;
  env.priority = ctx.priority;
  switch (ctx.family) {
    case ir::Family::kIp:
      env.nfproto = kNfprotoIpv4;
      env.pkt = pktinfo_ipv4(env.skb);
      return env;
    case ir::Family::kIp6:
      env.nfproto = kNfprotoIpv6;
      env.pkt = pktinfo_ipv6(env.skb);
      env.xt = xt_walk_ipv6(env.skb);
      return env;
    case ir::Family::kNetdev:
      break;
    default:
      note = fmt::format("family {} hooks are not modelled", ir::to_string(ctx.family));
      return std::nullopt;
  }
  bool v4 = env.protocol == kEthIp, v6 = env.protocol == kEthIp6;
  if (table_family == ir::Family::kInet) {
    // nft_do_chain_inet_ingress: non-IP passes untouched; an invalid IP header is dropped.
    if (!v4 && !v6) {
      verdict = ir::VerdictKind::kAccept;
      note = "inet ingress: not IP";
      return std::nullopt;
    }
    env.nfproto = v4 ? kNfprotoIpv4 : kNfprotoIpv6;
    auto p = v4 ? pktinfo_ipv4_validate(env.skb) : pktinfo_ipv6_validate(env.skb);
    if (!p) {
      verdict = ir::VerdictKind::kDrop;
      note = "inet ingress: invalid IP header";
      return std::nullopt;
    }
    env.pkt = *p;
    return env;
  }
  env.nfproto = kNfprotoNetdev;
  if (v4 || v6) env.pkt = (v4 ? pktinfo_ipv4_validate(env.skb) : pktinfo_ipv6_validate(env.skb)).value_or(PktInfo{});
  return env;
}

bool device_matches(const ir::BaseHook& h, const PacketContext& ctx) {
  if (h.devices.empty()) return true;
  const auto& dev = h.hook == ir::Hook::kEgress ? ctx.out : ctx.in;
  return dev && std::find(h.devices.begin(), h.devices.end(), dev->name) != h.devices.end();
}

bool chain_applies(const ir::Table& t, const ir::Chain& c, const PacketContext& ctx) {
  if (!c.base || c.base->hook != ctx.hook) return false;
  switch (ctx.family) {
    case ir::Family::kIp:
      return is_inet_hook(ctx.hook) && (t.family == ir::Family::kIp || t.family == ir::Family::kInet);
    case ir::Family::kIp6:
      return is_inet_hook(ctx.hook) && (t.family == ir::Family::kIp6 || t.family == ir::Family::kInet);
    case ir::Family::kNetdev:
      if (t.family == ir::Family::kNetdev) return device_matches(*c.base, ctx);
      return t.family == ir::Family::kInet && ctx.hook == ir::Hook::kIngress && device_matches(*c.base, ctx);
    default:
      return false;
  }
}

std::string verdict_text(const ir::Verdict& v) {
  std::string s(ir::to_string(v.kind));
  if (!v.chain.empty()) s += " " + v.chain;
  return s;
}

}  // namespace

// Runs base chains of one table against one packet environment, updating state and result.
class ChainRunner {
 public:
  ChainRunner(const ir::Table& t, EvalState& state, Env& env, EvalResult& out) : t_(t), state_(state), env_(env), out_(out) {}

  Result<ir::VerdictKind> run(const ir::Chain& base) {
    struct Frame {
      const ir::Chain* chain;
      size_t next;
    };
    std::vector<Frame> stack;
    const ir::Chain* chain = &base;
    size_t ri = 0;
    for (;;) {
      ir::Verdict v{ir::VerdictKind::kContinue, {}};
      const ir::Rule* decider = nullptr;
      for (; ri < chain->rules.size(); ++ri) {
        bool picked = false;
        if (const auto& cl = chain->rules[ri].classified; cl && ri + cl->rules <= chain->rules.size()) {
          // A classified block (ir.h): its tables pick the first rule that matches, which then
          // runs as usual; the rules before it are skipped as the BPF program skips them.
          auto pick = classify(*cl);
          if (!pick) return std::unexpected(std::move(pick).error().with_context(fmt::format(
                     "while evaluating the classified block at rule {} of {} chain {}", chain->rules[ri].handle, t_.name, chain->name)));
          if (!*pick) {
            ri += cl->rules - 1;
            continue;
          }
          ri += **pick;
          picked = true;
        }
        const ir::Rule& rule = chain->rules[ri];
        auto r = run_rule(*chain, rule);
        if (!r) return std::unexpected(std::move(r).error().with_context(
                   fmt::format("while evaluating {} {} chain {} rule {}", ir::to_string(t_.family), t_.name, chain->name, rule.handle)));
        if (picked && !*r)
          return failf(EPROTO, "classified block of chain {}: its tables picked rule {}, whose compares do not hold", chain->name,
                       rule.handle);
        if (!*r) continue;  // broke: next rule
        if ((*r)->kind == ir::VerdictKind::kContinue) continue;
        v = **r;
        decider = &rule;
        break;
      }
      switch (v.kind) {
        case ir::VerdictKind::kAccept:
        case ir::VerdictKind::kDrop:
          out_.table = t_.name;
          out_.chain = chain->name;
          out_.rule = decider->handle;
          return v.kind;
        case ir::VerdictKind::kJump:
          if (stack.size() >= kJumpStackSize) {
            note(*chain, decider, "jump stack overflow: drop");
            out_.table = t_.name;
            out_.chain = chain->name;
            out_.rule = decider->handle;
            return ir::VerdictKind::kDrop;
          }
          stack.push_back({chain, ri + 1});
          [[fallthrough]];
        case ir::VerdictKind::kGoto: {
          const ir::Chain* target = ir::find_chain(t_, v.chain);
          if (!target) return failf(ENOENT, "jump to unknown chain '{}' in table {}", v.chain, t_.name);
          chain = target;
          ri = 0;
          continue;
        }
        default:  // continue at the end of a chain, or return
          break;
      }
      if (!stack.empty()) {
        chain = stack.back().chain;
        ri = stack.back().next;
        stack.pop_back();
        continue;
      }
      out_.table = t_.name;
      out_.chain = base.name;
      out_.rule.reset();
      out_.trace.push_back({TraceEvent::Kind::kPolicy, t_.name, base.name, std::nullopt,
                            std::string(ir::to_string(base.policy))});
      return base.policy == ir::VerdictKind::kDrop ? ir::VerdictKind::kDrop : ir::VerdictKind::kAccept;
    }
  }

 private:
  void note(const ir::Chain& c, const ir::Rule* r, std::string what) {
    out_.trace.push_back({TraceEvent::Kind::kNote, t_.name, c.name, r ? std::optional(r->handle) : std::nullopt, std::move(what)});
  }

  // The index in the block of the first rule whose compares hold, from the block's tables: the
  // AND of each field's bitmap (the set's element data, or the wildcard when the field cannot be
  // loaded or its value is in no element), lowest set bit.
  Result<std::optional<size_t>> classify(const ir::Rule::Classified& cl) {
    std::vector<uint64_t> acc(cl.words, ~uint64_t{0});
    for (const auto& f : cl.fields) {
      const ir::Set* set = ir::find_set(t_, f.set);
      if (!set || set->data_len != cl.words * 8 || f.wildcard.size() != cl.words * 8)
        return failf(EINVAL, "classified block: set '{}' is not a map of {}-word bitmaps", f.set, cl.words);
      std::string why;
      auto key = load_key({f.field}, env_, why);
      if (!key) return std::unexpected(std::move(key).error());
      const ir::Bytes* bits = &f.wildcard;
      if (*key)
        if (const ir::Element* e = set_lookup(*set, **key)) bits = &e->data;
      for (size_t w = 0; w < cl.words; ++w) {
        uint64_t v = 0;
        for (size_t i = 0; i < 8; ++i) v |= uint64_t{(*bits)[w * 8 + i]} << (8 * i);
        acc[w] &= v;
      }
    }
    for (size_t w = 0; w < cl.words; ++w)
      if (acc[w]) {
        size_t i = w * 64 + static_cast<size_t>(__builtin_ctzll(acc[w]));
        if (i >= cl.rules) return failf(EINVAL, "classified block: bit {} set in a block of {} rules", i, cl.rules);
        return std::optional<size_t>{i};
      }
    return std::optional<size_t>{};
  }

  // nullopt: the rule broke. Otherwise the verdict it applies (kContinue: fall through).
  Result<std::optional<ir::Verdict>> run_rule(const ir::Chain& chain, const ir::Rule& rule) {
    RuleRef ref{t_.name, chain.name, rule.handle};
    for (size_t i = 0; i < rule.steps.size(); ++i) {
      StepRef sref{ref, static_cast<uint32_t>(i)};
      auto o = run_step(sref, rule.steps[i]);
      if (!o) return std::unexpected(std::move(o).error().with_context(fmt::format("at step {}", i)));
      if (o->kind == StepOutcome::Kind::kBreak) {
        out_.trace.push_back({TraceEvent::Kind::kNoMatch, t_.name, chain.name, rule.handle,
                              fmt::format("step {}: {}", i, o->why)});
        return std::optional<ir::Verdict>{};
      }
      if (o->kind == StepOutcome::Kind::kVerdict) {
        count_match(ref);
        out_.trace.push_back({TraceEvent::Kind::kVerdict, t_.name, chain.name, rule.handle,
                              fmt::format("step {}: {}", i, verdict_text(o->verdict))});
        return std::optional<ir::Verdict>{o->verdict};
      }
    }
    count_match(ref);
    bool cont = rule.verdict.kind == ir::VerdictKind::kContinue;
    out_.trace.push_back({cont ? TraceEvent::Kind::kMatch : TraceEvent::Kind::kVerdict, t_.name, chain.name, rule.handle,
                          verdict_text(rule.verdict)});
    return std::optional<ir::Verdict>{rule.verdict};
  }

  void count_match(const RuleRef& ref) {
    auto& c = state_.rule_matches[ref];
    c.packets++;
    c.bytes += env_.skb.len();
  }

  Result<StepOutcome> run_step(const StepRef& ref, const ir::Step& step) {
    return std::visit(
        [&](const auto& s) -> Result<StepOutcome> {
          using T = std::decay_t<decltype(s)>;
          if constexpr (std::is_same_v<T, ir::Match>) {
            return eval_match(t_, s, env_);
          } else if constexpr (std::is_same_v<T, ir::RegisterBlock>) {
            return eval_register_block(t_, s, env_);
          } else if constexpr (std::is_same_v<T, ir::VerdictMap>) {
            return eval_verdict_map(t_, s, env_);
          } else if constexpr (std::is_same_v<T, ir::Counter>) {
            auto& c = state_.counters[ref];
            c.packets++;
            c.bytes += env_.skb.len();
            return StepOutcome::hold();
          } else if constexpr (std::is_same_v<T, ir::ObjectRef>) {
            return object(s);
          } else if constexpr (std::is_same_v<T, ir::Limit>) {
            bool fresh = !state_.buckets_.contains(ref);
            return limit(s, state_.buckets_[ref], fresh);
          } else if constexpr (std::is_same_v<T, ir::Quota>) {
            auto it = state_.quota_used_.try_emplace(ref, s.consumed).first;
            return quota(s, it->second);
          } else if constexpr (std::is_same_v<T, ir::Log>) {
            out_.trace.push_back({TraceEvent::Kind::kNote, ref.rule.table, ref.rule.chain, ref.rule.handle,
                                  fmt::format("log prefix \"{}\"", s.prefix)});
            return StepOutcome::hold();
          } else if constexpr (std::is_same_v<T, ir::SetMark>) {
            env_.mark = (env_.mark & ~s.clear) ^ s.value;
            return StepOutcome::hold();
          } else {
            return fail(EOPNOTSUPP, "evaluator: unknown step");
          }
        },
        step);
  }

  Result<StepOutcome> object(const ir::ObjectRef& o) {
    std::pair<std::string, std::string> key{t_.name, o.name};
    if (o.kind == "counter") {
      auto& c = state_.named_counters[key];
      c.packets++;
      c.bytes += env_.skb.len();
      return StepOutcome::hold();
    }
    if (o.kind == "quota") {
      if (o.quota && !state_.quotas_.contains(key)) state_.quotas_[key] = *o.quota;
      auto def = state_.quotas_.find(key);
      if (def == state_.quotas_.end()) return failf(ENOENT, "quota '{}' not declared to the evaluator", o.name);
      auto it = state_.named_quota_used_.try_emplace(key, def->second.consumed).first;
      return quota(def->second, it->second);
    }
    if (o.kind == "limit") {
      if (o.limit && !state_.limit_defs_.contains(key)) state_.limit_defs_[key] = *o.limit;
      auto def = state_.limit_defs_.find(key);
      if (def == state_.limit_defs_.end()) return failf(ENOENT, "limit '{}' not declared to the evaluator", o.name);
      bool fresh = !state_.named_buckets_.contains(key);
      return limit(def->second, state_.named_buckets_[key], fresh);
    }
    return failf(EOPNOTSUPP, "evaluator: {} objects not modelled", o.kind);
  }

  // nft_quota_do_eval: consumed += skb->len; break when (consumed > quota) xor invert.
  StepOutcome quota(const ir::Quota& q, uint64_t& used) {
    used += env_.skb.len();
    bool over = used > q.bytes;
    if (over != q.over) return StepOutcome::brk(fmt::format("quota {}/{} bytes", used, q.bytes));
    return StepOutcome::hold();
  }

  // nft_limit_init + nft_limit_eval on the virtual clock.
  Result<StepOutcome> limit(const ir::Limit& l, EvalState::Bucket& b, bool fresh) {
    if (l.rate == 0) return fail(EINVAL, "limit with rate 0");
    uint64_t nsecs, tokens_max, cost;
    if (__builtin_mul_overflow(l.unit_seconds, uint64_t{1000000000}, &nsecs)) return fail(EOVERFLOW, "limit unit");
    uint64_t burst = l.burst;
    if (!l.bytes && burst == 0) burst = 5;  // NFT_LIMIT_PKT_BURST_DEFAULT
    if (!l.bytes) {
      if (__builtin_mul_overflow(nsecs / l.rate, burst, &tokens_max)) return fail(EOVERFLOW, "limit burst");
      cost = nsecs / l.rate;
    } else {
      uint64_t tmp;
      if (__builtin_mul_overflow(nsecs, l.rate + burst, &tmp)) return fail(EOVERFLOW, "limit rate");
      tokens_max = tmp / l.rate;
      if (__builtin_mul_overflow(nsecs, uint64_t{env_.skb.len()}, &tmp)) return fail(EOVERFLOW, "limit cost");
      cost = tmp / l.rate;
    }
    uint64_t now = env_.ctx->now_ns;
    if (fresh) {
      b.tokens = tokens_max;
      b.last = now;
    }
    if (now < b.last) now = b.last;  // the virtual clock never runs backwards
    uint64_t tokens = std::min(b.tokens + (now - b.last), tokens_max);
    b.last = now;
    bool limited;  // nft_limit_eval's return: true breaks the rule
    if (tokens >= cost) {
      b.tokens = tokens - cost;
      limited = l.over;
    } else {
      b.tokens = tokens;
      limited = !l.over;
    }
    if (limited) return StepOutcome::brk(l.over ? "limit: under the rate" : "limit: over the rate");
    return StepOutcome::hold();
  }

  const ir::Table& t_;
  EvalState& state_;
  Env& env_;
  EvalResult& out_;
};

namespace {

struct Candidate {
  const ir::Table* table;
  const ir::Chain* chain;
  size_t seq;
};

Result<EvalResult> run_chains(std::vector<Candidate> cands, const PacketContext& ctx, std::span<const uint8_t> frame,
                              EvalState& state) {
  // Ascending priority; equal priorities: the later-declared chain first.
  std::stable_sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) {
    if (a.chain->base->priority != b.chain->base->priority) return a.chain->base->priority < b.chain->base->priority;
    return a.seq > b.seq;
  });
  EvalResult out;
  out.mark = ctx.mark;
  out.priority = ctx.priority;
  PacketContext live = ctx;  // mark/priority carry from one base chain to the next
  for (const Candidate& c : cands) {
    live.mark = out.mark;
    live.priority = out.priority;
    std::optional<ir::VerdictKind> early;
    std::string note;
    auto env = make_env(c.table->family, live, frame, early, note);
    if (!env) {
      if (!early) return failf(EOPNOTSUPP, "evaluator: {}", note);
      out.trace.push_back({TraceEvent::Kind::kNote, c.table->name, c.chain->name, std::nullopt, note});
      if (*early == ir::VerdictKind::kDrop) {
        out.verdict = ir::VerdictKind::kDrop;
        out.table = c.table->name;
        out.chain = c.chain->name;
        out.rule.reset();
        return out;
      }
      continue;
    }
    ChainRunner runner(*c.table, state, *env, out);
    auto v = runner.run(*c.chain);
    if (!v) return std::unexpected(std::move(v).error());
    out.mark = env->mark;
    out.priority = env->priority;
    out.verdict = *v;
    if (*v == ir::VerdictKind::kDrop) return out;
  }
  return out;
}

}  // namespace

Result<EvalResult> evaluate(const ir::Ruleset& rs, const PacketContext& ctx, std::span<const uint8_t> frame,
                            EvalState& state) {
  std::vector<Candidate> cands;
  size_t seq = 0;
  for (const ir::Table& t : rs.tables)
    for (const ir::Chain& c : t.chains)
      if (chain_applies(t, c, ctx)) cands.push_back({&t, &c, seq++});
  return run_chains(std::move(cands), ctx, frame, state);
}

Result<EvalResult> evaluate(const ir::Table& t, const PacketContext& ctx, std::span<const uint8_t> frame,
                            EvalState& state) {
  std::vector<Candidate> cands;
  size_t seq = 0;
  for (const ir::Chain& c : t.chains)
    if (chain_applies(t, c, ctx)) cands.push_back({&t, &c, seq++});
  return run_chains(std::move(cands), ctx, frame, state);
}

Result<EvalResult> evaluate_chain(const ir::Table& t, const ir::Chain& base, const PacketContext& ctx,
                                  std::span<const uint8_t> frame, EvalState& state) {
  if (!base.base) return failf(EINVAL, "chain '{}' is not a base chain", base.name);
  return run_chains({{&t, &base, 0}}, ctx, frame, state);
}

std::string EvalResult::describe() const {
  std::string v(ir::to_string(verdict));
  if (chain.empty()) return v + " (no base chain at this hook)";
  if (rule) return fmt::format("{} by {}/{} rule {}", v, table, chain, *rule);
  return fmt::format("{} by {}/{} policy", v, table, chain);
}

}  // namespace nfbpf::eval
