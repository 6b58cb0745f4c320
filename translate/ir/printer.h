#pragma once
// Deterministic text form of the IR, for tests, golden files and `--dump-ir`.
//
//   table ip filter handle 1
//     set blocked key_len 4 parts [4] flags 0x4 { 0a000000-0a0000ff }
//     chain input handle 2 hook input priority 0 type filter policy drop
//       rule 3: ip saddr & ffffff00 == 0a000000; counter -> accept # ssh
//
// Values are hex bytes in register layout; fields are named when well known, else written
// `@nh,12,4` / `meta:5` / `ct:0`.

#include <string>

#include "translate/ir/ir.h"

namespace nfbpf::ir {

std::string to_string(const Field& f);
std::string to_string(const Match& m);
std::string to_string(const Step& s);
std::string to_string(const Verdict& v);
std::string to_string(const Rule& r);
std::string to_string(const Set& s);
std::string to_string(const Chain& c);
std::string to_string(const Table& t);
std::string to_string(const Ruleset& r);
std::string hex(const Bytes& b);

}  // namespace nfbpf::ir
