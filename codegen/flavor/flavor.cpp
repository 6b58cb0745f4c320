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

void emit_ctx_direct_init(emit::Program& p, emit::Label& fail, uint32_t l3_offset,
                          int16_t data_off, int16_t data_end_off, bool len_from_ctx) {
  using emit::Size;
  p.mov(emit::kCtx, Reg::R1);
  p.stx(Size::kDW, emit::kFrame, emit::kPktSrcOff, emit::kCtx);
  p.ldx(Size::kW, Reg::R2, emit::kCtx, data_off);
  p.ldx(Size::kW, Reg::R3, emit::kCtx, data_end_off);
  p.stx(Size::kDW, emit::kFrame, emit::kDataOff, Reg::R2);
  p.stx(Size::kDW, emit::kFrame, emit::kDataEndOff, Reg::R3);
  if (len_from_ctx) {
    p.ldx(Size::kW, Reg::R3, emit::kCtx, 0);  // __sk_buff.len
  } else {
    p.alu(emit::AluOp::kSub, Reg::R3, Reg::R2);  // pkt_end - pkt: a scalar (needs CAP_PERFMON)
  }
  if (l3_offset > 0) {
    p.jmp(Cond::kLt, Reg::R3, static_cast<int32_t>(l3_offset), fail);
    p.alu(emit::AluOp::kSub, Reg::R3, static_cast<int32_t>(l3_offset));
  }
  p.stx(Size::kDW, emit::kFrame, emit::kPktLenOff, Reg::R3);
}

}  // namespace nfbpf::codegen::flavor
