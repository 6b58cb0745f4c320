#pragma once
// TEST-ONLY fault switch: lets `nfbpf verify`'s own tests prove that verify catches a BPF side
// that behaves differently from the kernel. Set in nfbpfd's environment only by
// `nfbpf verify --test-fault SPEC` (a hidden option) for its private daemon:
//
//   NFBPF_TEST_FAULT=flip-verdict:COMMENT   rules whose comment is COMMENT run with accept and
//                                           drop swapped in the compiled program (the store and
//                                           listings are untouched, as a codegen bug would be)
//
// Unset (always, outside those tests) it does nothing. Header-only so that it needs no build
// change where it is called (offload_hook.cpp, right after lowering).

#include <cstdlib>
#include <string>

#include "common/log.h"
#include "translate/ir/ir.h"

namespace nfbpf::offload {

inline void apply_test_fault(ir::Ruleset& rs) {
  const char* spec = std::getenv("NFBPF_TEST_FAULT");
  if (!spec) return;
  const std::string s = spec, flip = "flip-verdict:";
  if (!s.starts_with(flip)) return;
  const std::string comment = s.substr(flip.size());
  for (auto& t : rs.tables)
    for (auto& c : t.chains)
      for (auto& r : c.rules) {
        if (r.comment != comment) continue;
        if (r.verdict.kind == ir::VerdictKind::kAccept) r.verdict.kind = ir::VerdictKind::kDrop;
        else if (r.verdict.kind == ir::VerdictKind::kDrop) r.verdict.kind = ir::VerdictKind::kAccept;
        else continue;
        log::warn("NFBPF_TEST_FAULT: verdict of rule {} ({} {} {}) flipped", r.handle, t.name, c.name, r.comment);
      }
}

}  // namespace nfbpf::offload
