#pragma once
// What a set of chains reads from the packet, so the prologue parses and slices only that much:
// the furthest network and transport byte any payload field (match key, verdict-map key,
// register-block load) reaches. Fields past emit::kSliceBufSize bytes are still read, one slice
// per field (the slow path); they just do not widen the shared header slices.

#include <vector>

#include "codegen/prologue/state.h"
#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::codegen::prologue {

struct Needs {
  uint32_t network_end = 0;    // max offset+len of network-base fields
  uint32_t transport_end = 0;  // max offset+len of transport-base fields
  bool link = false;           // some field reads the link-layer header
  bool xt6 = false;            // some field reads x_tables' IPv6 walk (Layout::xt6)
};

void add_field(Needs& n, const ir::Field& f);
Needs needs_of(const std::vector<const ir::Chain*>& chains);
Layout layout_for(const Needs& n);

}  // namespace nfbpf::codegen::prologue
