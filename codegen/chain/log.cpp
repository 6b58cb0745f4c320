#include "codegen/chain/log.h"

#include <linux/bpf.h>

#include "codegen/abi/log_event.h"
#include "codegen/abi/netfilter.h"
#include "codegen/matcher/meta.h"

namespace nfbpf::codegen::chain {

using emit::Cond;
using emit::KernelField;
using emit::Reg;
using emit::Size;
using flavor::Flavor;
using matcher::at;
using matcher::kTmp;
namespace off = abi::log_event_offsets;

namespace {

// r4 = the reserved record (spilled at `ev`: every helper or kfunc call clobbers r0-r5).
void ev_ptr(emit::Program& p, int16_t ev) { p.ldx(Size::kDW, Reg::R4, kTmp, at(ev)); }

// Copies a device's name (r1 = struct net_device *, non-NULL) into the record at `name_off`.
void copy_name(emit::Program& p, int16_t ev, int16_t name_off) {
  ev_ptr(p, ev);
  p.ldx_field(Size::kDW, Reg::R2, Reg::R1, KernelField::kNetDeviceName, 0);
  p.stx(Size::kDW, Reg::R4, name_off, Reg::R2);
  p.ldx_field(Size::kDW, Reg::R2, Reg::R1, KernelField::kNetDeviceName, 8);
  p.stx(Size::kDW, Reg::R4, static_cast<int16_t>(name_off + 8), Reg::R2);
}

}  // namespace

Result<kernel::Map> create_log_ring(kernel::Kernel& k) {
  auto m = kernel::Map::create(k, {.type = BPF_MAP_TYPE_RINGBUF, .key_size = 0, .value_size = 0,
                                   .max_entries = abi::kLogRingBytes, .name = std::string(kLogRingMapName)});
  if (!m) return std::unexpected(std::move(m).error().with_context("creating the log ring buffer"));
  return m;
}

Result<void> emit_log(matcher::EmitCtx& c, const ir::Log& l) {
  emit::Program& p = c.p;
  Flavor fl = c.f.flavor;
  if (fl == Flavor::kXdp) return fail(EOPNOTSUPP, "log: XDP programs have no sk_buff to log");
  if (l.group) return failf(EOPNOTSUPP, "log group {}: nflog delivery to userspace listeners is not offloaded", *l.group);
  if (l.level > 7) return fail(EOPNOTSUPP, "log level audit: writes to the kernel audit log, which BPF cannot");
  if (l.prefix.size() >= abi::kLogPrefixMax) return failf(EINVAL, "log prefix of {} bytes", l.prefix.size());
  int16_t mark = c.stack.mark();
  auto ev = c.stack.alloc(8);
  if (!ev) return std::unexpected(std::move(ev).error());
  auto skb = c.stack.alloc(8);
  if (!skb) return std::unexpected(std::move(skb).error());

  emit::Label done(p);
  p.ld_map_fd(Reg::R1, p.map(kLogRingMapName));
  p.mov(Reg::R2, static_cast<int32_t>(sizeof(abi::LogEvent)));
  p.mov(Reg::R3, 0);
  p.call_helper(BPF_FUNC_ringbuf_reserve);
  p.jmp(Cond::kEq, Reg::R0, 0, done);  // ring full: the record is dropped, the rule goes on
  p.stx(Size::kDW, kTmp, at(*ev), Reg::R0);

  // The rule's constants.
  p.st(Size::kW, Reg::R0, off::kMagic, static_cast<int32_t>(abi::kLogEventMagic));
  p.st(Size::kB, Reg::R0, off::kLevel, static_cast<int32_t>(l.level));
  p.st(Size::kH, Reg::R0, off::kFlags, static_cast<int32_t>(l.flags & 0xffff));
  p.st(Size::kH, Reg::R0, off::kPrefixLen, static_cast<int32_t>(l.prefix.size()));
  for (size_t i = 0; i < l.prefix.size(); i += 4) {
    uint32_t w = 0;
    for (size_t j = 0; j < 4 && i + j < l.prefix.size(); ++j) w |= static_cast<uint32_t>(static_cast<uint8_t>(l.prefix[i + j])) << (8 * j);
    p.st(Size::kW, Reg::R0, static_cast<int16_t>(off::kPrefix + i), static_cast<int32_t>(w));
  }
  p.st(Size::kB, Reg::R0, off::kHaveUid, 0);

  // The sk_buff (a kfunc call at tc/cgroup_skb), kept in its own slot.
  matcher::emit_skb_ptr(c, Reg::R1);
  p.stx(Size::kDW, kTmp, at(*skb), Reg::R1);
  ev_ptr(p, *ev);
  p.ldx_field(Size::kW, Reg::R2, Reg::R1, KernelField::kSkbMark);
  p.stx(Size::kW, Reg::R4, off::kMark, Reg::R2);
  p.ldx_field(Size::kW, Reg::R2, Reg::R1, KernelField::kSkbLen);
  p.stx(Size::kW, Reg::R4, off::kSkbLen, Reg::R2);
  if (fl == Flavor::kNetfilter) {
    p.ldx(Size::kDW, Reg::R2, emit::kCtx, abi::kNfCtxStateOff);
    p.ldx(Size::kB, Reg::R2, Reg::R2, abi::kNfStatePfOff);
    p.stx(Size::kB, Reg::R4, off::kPf, Reg::R2);
  } else {
    p.st(Size::kB, Reg::R4, off::kPf, 0);  // the reader goes by the IP version
  }

  // IN= / OUT= devices (nf_log_dump_packet_common).
  for (bool out : {false, true}) {
    int16_t have = out ? off::kHaveOut : off::kHaveIn;
    matcher::emit_hook_dev(c, out);
    ev_ptr(p, *ev);
    emit::Label none(p), next(p);
    p.jmp(Cond::kEq, Reg::R1, 0, none);
    p.st(Size::kB, Reg::R4, have, 1);
    copy_name(p, *ev, out ? off::kOutName : off::kInName);
    p.jmp(next);
    p.bind(none);
    p.st(Size::kB, Reg::R4, have, 0);
    p.bind(next);
  }

  // MAC= (dump_mac_header: skb->dev's type and hard_header_len, bytes from the mac header).
  {
    emit::Label no_mac(p), mac_done(p);
    ev_ptr(p, *ev);
    p.st(Size::kH, Reg::R4, off::kMacLen, 0);
    p.st(Size::kH, Reg::R4, off::kInType, 0);
    p.ldx(Size::kDW, Reg::R1, kTmp, at(*skb));
    p.ldx_field(Size::kH, Reg::R2, Reg::R1, KernelField::kSkbMacHeader);
    p.ldx_field(Size::kH, Reg::R3, Reg::R1, KernelField::kSkbNetworkHeader);
    p.mov(Reg::R5, Reg::R3);
    p.alu(emit::AluOp::kSub, Reg::R5, Reg::R2);
    p.stx(Size::kH, Reg::R4, off::kMacHdrLen, Reg::R5);
    p.ldx_field(Size::kDW, Reg::R1, Reg::R1, KernelField::kSkbDev);
    p.jmp(Cond::kEq, Reg::R1, 0, no_mac);
    p.ldx_field(Size::kH, Reg::R5, Reg::R1, KernelField::kNetDeviceType);
    p.stx(Size::kH, Reg::R4, off::kInType, Reg::R5);
    p.jmp(Cond::kEq, Reg::R2, 0xffff, no_mac);
    p.jmp(Cond::kEq, Reg::R2, Reg::R3, no_mac);
    p.ldx_field(Size::kH, Reg::R5, Reg::R1, KernelField::kNetDeviceHardHeaderLen);
    p.jmp(Cond::kEq, Reg::R5, 0, no_mac);
    {
      auto small = p.jmp_fwd(Cond::kLe, Reg::R5, static_cast<int32_t>(abi::kLogMacMax));
      p.mov(Reg::R5, static_cast<int32_t>(abi::kLogMacMax));
    }
    p.stx(Size::kH, Reg::R4, off::kMacLen, Reg::R5);
    // probe_read_kernel(ev->mac, len, skb->head + mac_header)
    p.ldx(Size::kDW, Reg::R1, kTmp, at(*skb));
    p.ldx_field(Size::kDW, Reg::R3, Reg::R1, KernelField::kSkbHead);
    p.alu(emit::AluOp::kAdd, Reg::R3, Reg::R2);
    p.mov(Reg::R2, Reg::R5);
    p.mov(Reg::R1, Reg::R4);
    p.alu(emit::AluOp::kAdd, Reg::R1, off::kMac);
    p.call_helper(BPF_FUNC_probe_read_kernel);
    {
      auto ok = p.jmp_fwd(Cond::kEq, Reg::R0, 0);
      ev_ptr(p, *ev);
      p.st(Size::kH, Reg::R4, off::kMacLen, 0);
    }
    p.jmp(mac_done);
    p.bind(no_mac);
    p.bind(mac_done);
  }

  // The linear bytes from the network header: n = tail - network_header, in [0, kLogDataMax].
  {
    emit::Label none(p), copied(p);
    p.ldx(Size::kDW, Reg::R1, kTmp, at(*skb));
    p.ldx_field(Size::kW, Reg::R2, Reg::R1, KernelField::kSkbTail);
    p.ldx_field(Size::kH, Reg::R3, Reg::R1, KernelField::kSkbNetworkHeader);
    p.alu(emit::AluOp::kSub, Reg::R2, Reg::R3);
    p.jmp(Cond::kSle, Reg::R2, 0, none);
    {
      auto small = p.jmp_fwd(Cond::kLe, Reg::R2, static_cast<int32_t>(abi::kLogDataMax));
      p.mov(Reg::R2, static_cast<int32_t>(abi::kLogDataMax));
    }
    ev_ptr(p, *ev);
    p.stx(Size::kH, Reg::R4, off::kDataLen, Reg::R2);
    p.ldx_field(Size::kDW, Reg::R1, Reg::R1, KernelField::kSkbHead);
    p.alu(emit::AluOp::kAdd, Reg::R1, Reg::R3);
    p.mov(Reg::R3, Reg::R1);
    p.mov(Reg::R1, Reg::R4);
    p.alu(emit::AluOp::kAdd, Reg::R1, off::kData);
    p.call_helper(BPF_FUNC_probe_read_kernel);
    p.jmp(Cond::kEq, Reg::R0, 0, copied);
    p.bind(none);
    ev_ptr(p, *ev);
    p.st(Size::kH, Reg::R4, off::kDataLen, 0);
    p.bind(copied);
  }

  // UID= GID= (flags skuid): nf_log_dump_sk_uid_gid, no request-sock listener.
  if (l.flags & abi::kLogUid) {
    emit::Label no_sk(p);
    matcher::emit_socket_key(c, ir::MetaKey::kSkUid, no_sk, false);
    ev_ptr(p, *ev);
    p.stx(Size::kW, Reg::R4, off::kUid, Reg::R1);
    matcher::emit_socket_key(c, ir::MetaKey::kSkGid, no_sk, false);
    ev_ptr(p, *ev);
    p.stx(Size::kW, Reg::R4, off::kGid, Reg::R1);
    p.st(Size::kB, Reg::R4, off::kHaveUid, 1);
    p.bind(no_sk);
  }

  p.ldx(Size::kDW, Reg::R1, kTmp, at(*ev));
  p.mov(Reg::R2, 0);
  p.call_helper(BPF_FUNC_ringbuf_submit);
  p.bind(done);
  c.stack.release_to(mark);
  return {};
}

}  // namespace nfbpf::codegen::chain
