#pragma once
// Checks the invariants codegen relies on, so it can assume them:
// - jump/goto targets exist in the same table and are regular chains; no jump loops (ELOOP);
// - every set a match, lookup or vmap names exists; vmaps name verdict maps;
// - match values, masks and range ends have the key's register-layout length;
// - set elements have the set's key length; interval ends only on interval sets;
// - base chains have a policy of accept or drop and a hook their family supports.
// Errors carry the kernel's errno for the same mistake (ENOENT, ELOOP, EINVAL, EOPNOTSUPP).

#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::ir {

Result<void> validate(const Table& table);
Result<void> validate(const Ruleset& ruleset);

}  // namespace nfbpf::ir
