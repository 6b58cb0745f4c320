#pragma once
// Internal to the evaluator: one rule step (a Match, a RegisterBlock or a VerdictMap lookup) and
// its outcome in nft's terms. Stateful statements live in eval.cpp with the state they touch.

#include <string>

#include "common/result.h"
#include "translate/eval/load.h"
#include "translate/ir/ir.h"

namespace nfbpf::eval {

struct StepOutcome {
  enum class Kind : uint8_t { kHold, kBreak, kVerdict };
  Kind kind = Kind::kHold;
  ir::Verdict verdict;  // kVerdict
  std::string why;      // kBreak: the reason, for the trace

  static StepOutcome hold() { return {}; }
  static StepOutcome brk(std::string why) { return {Kind::kBreak, {}, std::move(why)}; }
  static StepOutcome decide(ir::Verdict v) { return {Kind::kVerdict, std::move(v), {}}; }
};

// (key & mask) op value, with the IR's ordering convention (numeric in the field's byte order for
// a single field of up to 8 bytes, memcmp otherwise).
Result<StepOutcome> eval_match(const ir::Table& t, const ir::Match& m, const Env& env);

// nft's register machine over an 80-byte register file (zeroed for each block: see eval.h).
Result<StepOutcome> eval_register_block(const ir::Table& t, const ir::RegisterBlock& b, Env& env);

Result<StepOutcome> eval_verdict_map(const ir::Table& t, const ir::VerdictMap& vm, const Env& env);

// The register layout of a key: one field as is, several each padded to 4 bytes. nullopt when a
// load breaks (`why` says why); an error for keys the evaluator cannot load.
Result<std::optional<ir::Bytes>> load_key(const std::vector<ir::Field>& key, const Env& env, std::string& why);

}  // namespace nfbpf::eval
