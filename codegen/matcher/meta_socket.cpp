// meta skuid / skgid / cgroup: the socket that owns the packet, as nft_meta_get_eval_skugid and
// nft_meta_get_eval_cgroup read it:
//   sk = skb->sk, a request sock (TCP_NEW_SYN_RECV: a SYN-ACK) standing for its listener
//        (skb_to_full_sk); none, or not a full socket (time-wait)  -> break
//   netfilter: the socket's netns must be the hook's (net_eq)   -> else break
//   cgroup: sk->sk_cgrp_data.classid (sock_cgroup_classid)
//   skuid/skgid: sk->sk_socket->file->f_cred->fsuid/fsgid; no socket or file -> break; the value
//        as from_kuid_munged(&init_user_ns, ...) gives it (INVALID_UID reads as overflowuid 65534)
// Every pointer is read through BTF (PTR_TO_BTF_ID loads are fault-safe), offsets resolved from
// vmlinux BTF at link time. nft holds sk_callback_lock around the socket/file reads; a BPF program
// cannot, so a socket being closed concurrently may read as either value (or break), as in any
// lockless reader.
#include <linux/bpf.h>

#include "codegen/abi/netfilter.h"
#include "codegen/matcher/meta.h"

namespace nfbpf::codegen::matcher {

using emit::Cond;
using emit::KernelField;
using emit::Reg;
using emit::Size;

namespace {
constexpr int32_t kTcpTimeWait = 6, kTcpNewSynRecv = 12;
constexpr int32_t kOverflowUid = 65534;
}  // namespace

void emit_socket_key(EmitCtx& c, ir::MetaKey k, emit::Label& fail, bool follow_request_sock) {
  emit::Program& p = c.p;
  emit_skb_ptr(c, Reg::R1);
  p.ldx_field(Size::kDW, Reg::R1, Reg::R1, KernelField::kSkbSk);
  p.jmp(Cond::kEq, Reg::R1, 0, fail);
  p.ldx_field(Size::kB, Reg::R2, Reg::R1, KernelField::kSockState);
  if (follow_request_sock) {
    auto full = p.jmp_fwd(Cond::kNe, Reg::R2, kTcpNewSynRecv);
    // skc_listener shares a union with skc_flags, so the verifier types the load as a number:
    // bpf_rdonly_cast makes it a (read-only, fault-safe) struct sock pointer again.
    p.ldx_field(Size::kDW, Reg::R1, Reg::R1, KernelField::kSockListener);
    p.jmp(Cond::kEq, Reg::R1, 0, fail);
    p.mov_btf_type(Reg::R2, emit::KernelType::kSock);
    p.call_kfunc(emit::Kfunc::kRdonlyCast);
    p.mov(Reg::R1, Reg::R0);
    p.ldx_field(Size::kB, Reg::R2, Reg::R1, KernelField::kSockState);
  }
  p.jmp(Cond::kEq, Reg::R2, kTcpTimeWait, fail);
  p.jmp(Cond::kEq, Reg::R2, kTcpNewSynRecv, fail);
  if (c.f.flavor == flavor::Flavor::kNetfilter) {
    p.ldx_field(Size::kDW, Reg::R2, Reg::R1, KernelField::kSockNet);
    p.ldx(Size::kDW, Reg::R3, emit::kCtx, abi::kNfCtxStateOff);
    p.ldx_field(Size::kDW, Reg::R3, Reg::R3, KernelField::kNfHookStateNet);
    p.jmp(Cond::kNe, Reg::R2, Reg::R3, fail);
  }
  if (k == ir::MetaKey::kCgroup) {
    p.ldx_field(Size::kW, Reg::R1, Reg::R1, KernelField::kSockCgroupClassid);
    return;
  }
  p.ldx_field(Size::kDW, Reg::R1, Reg::R1, KernelField::kSockSocket);
  p.jmp(Cond::kEq, Reg::R1, 0, fail);
  p.ldx_field(Size::kDW, Reg::R1, Reg::R1, KernelField::kSocketFile);
  p.jmp(Cond::kEq, Reg::R1, 0, fail);
  p.ldx_field(Size::kDW, Reg::R1, Reg::R1, KernelField::kFileCred);
  p.jmp(Cond::kEq, Reg::R1, 0, fail);
  p.ldx_field(Size::kW, Reg::R1, Reg::R1, k == ir::MetaKey::kSkUid ? KernelField::kCredFsuid : KernelField::kCredFsgid);
  emit::Label mapped(p);
  p.jmp32(Cond::kNe, Reg::R1, -1, mapped);  // 32-bit compare: the u32 loaded is zero-extended
  p.mov(Reg::R1, kOverflowUid);
  p.bind(mapped);
}

}  // namespace nfbpf::codegen::matcher
