#include "codegen/flavor/flavor.h"

namespace nfbpf::codegen::flavor {

using emit::Cond;
using emit::Kfunc;
using emit::Reg;

namespace {

constexpr size_t kFlavors = static_cast<size_t>(Flavor::kCount);

const std::array<const FlavorOps*, kFlavors>& table() {
  static const std::array<const FlavorOps*, kFlavors> t = {
      &kNetfilterOps, &kXdpOps, &kTcxIngressOps, &kTcxEgressOps, &kCgroupSkbIngressOps,
      &kCgroupSkbEgressOps,
  };
  return t;
}

}  // namespace

const FlavorOps& flavor_ops(Flavor f) {
  const FlavorOps& ops = *table().at(static_cast<size_t>(f));
  return ops;
}

std::string_view flavor_name(Flavor f) { return flavor_ops(f).name; }

void emit_store_l3_len(emit::Program& p, uint32_t l3_offset, emit::Label& fail) {
  p.mov(Reg::R1, emit::kFrame);
  p.alu(emit::AluOp::kAdd, Reg::R1, emit::kDynptrOff);
  p.call_kfunc(Kfunc::kDynptrSize);
  if (l3_offset > 0) {
    p.jmp(Cond::kLt, Reg::R0, static_cast<int32_t>(l3_offset), fail);
    p.alu(emit::AluOp::kSub, Reg::R0, static_cast<int32_t>(l3_offset));
  }
  p.stx(emit::Size::kDW, emit::kFrame, emit::kPktLenOff, Reg::R0);
}

}  // namespace nfbpf::codegen::flavor
