#pragma once
// Fields of kernel structures that generated code reads through BTF pointers (PTR_TO_BTF_ID), e.g.
// a netfilter program's ctx->skb->len. Their offsets differ between kernels, so a load of one is
// emitted with a typed fixup (Program::ldx_field) and resolved from vmlinux BTF at link time
// (kernel::Kernel::btf_member_offset); the disassembly names the field.

#include <array>
#include <cstdint>
#include <string_view>

namespace nfbpf::codegen::emit {

enum class KernelField : uint8_t {
  kSkbLen,            // u32 sk_buff.len
  kSkbDataLen,        // u32 sk_buff.data_len (bytes not in the linear head)
  kSkbData,           // unsigned char *sk_buff.data (read-only untrusted memory in BPF)
  kSkbMark,           // u32 sk_buff.mark
  kSkbPriority,       // u32 sk_buff.priority
  kSkbHash,           // u32 sk_buff.hash
  kSkbSk,             // struct sock *sk_buff.sk
  kSkbDev,            // struct net_device *sk_buff.dev
  kNetDeviceIfindex,  // int net_device.ifindex
  kNetDeviceName,     // char net_device.name[16]
  kNetDeviceType,     // unsigned short net_device.type
  kNetDeviceGroup,    // u32 net_device.group
  kSkbPktTypeOffset,  // u8 sk_buff.__pkt_type_offset[0]: the byte whose low 3 bits (little-endian
                      // bitfield order) are pkt_type, as the kernel's own __sk_buff rewrite reads it
  kCount,
};

struct KernelFieldName {
  std::string_view type;
  std::string_view member;
};

inline constexpr std::array<KernelFieldName, static_cast<size_t>(KernelField::kCount)> kKernelFields = {{
    {"sk_buff", "len"},
    {"sk_buff", "data_len"},
    {"sk_buff", "data"},
    {"sk_buff", "mark"},
    {"sk_buff", "priority"},
    {"sk_buff", "hash"},
    {"sk_buff", "sk"},
    {"sk_buff", "dev"},
    {"net_device", "ifindex"},
    {"net_device", "name"},
    {"net_device", "type"},
    {"net_device", "group"},
    {"sk_buff", "__pkt_type_offset"},
}};
static_assert(kKernelFields.size() == static_cast<size_t>(KernelField::kCount));

inline constexpr const KernelFieldName& kernel_field_name(KernelField f) {
  return kKernelFields[static_cast<size_t>(f)];
}

}  // namespace nfbpf::codegen::emit
