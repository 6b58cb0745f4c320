#pragma once
// Pass: give payload fields the protocol their rule's guards establish, so fields print with
// their names ("tcp dport" rather than "@th,2,2") and later passes can reason per protocol.
// The table family fixes the network header (ip, ip6); otherwise a `meta nfproto ==` match does.
// `meta l4proto ==`, `ip protocol ==` or `ip6 nexthdr ==` fixes the transport header.
// Only Field::proto changes; codegen ignores it, so semantics cannot change.

#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::translate::passes {

Result<void> name_fields(ir::Table& table);

}  // namespace nfbpf::translate::passes
