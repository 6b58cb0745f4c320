#pragma once
// OffloadHook's private records of a loaded program (shared by offload_hook.cpp and
// persistence.cpp; nothing else includes this).

#include <map>
#include <set>
#include <string>

#include "codegen/chain/load.h"
#include "nfnl-server/offload/offload_hook.h"
#include "nfnl-server/offload/set_contents.h"

namespace nfbpf::offload {

struct OffloadHook::Program {
  std::string key;  // printed inputs (see program_for); equal keys compile to equal programs
  codegen::chain::LoadedChain loaded;
  std::set<codegen::chain::SlotKey> counters, quotas, limits;
  double compile_ms = 0, load_ms = 0;  // compile_chain; load_chain (maps + verifier)
  std::string pin;  // "prog_<id>" under --bpffs once pinned (its set maps: pin + "_s<n>")
  // What each named set's map holds (by codegen::chain::set_map_key), kept up to date by commit() as
  // elements are added and deleted in place.
  struct LiveSet {
    ir::Family family;
    std::string table, set;
    SetContents contents;
  };
  std::map<std::string, LiveSet> sets;
};

struct OffloadHook::SetUpdate {
  ProgramPtr prog;
  std::string set;  // key in Program::sets
  SetContents contents;
};

}  // namespace nfbpf::offload
