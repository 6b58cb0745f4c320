#include "nfnl-server/offload/make_commit_hook.h"

#include "codegen/kernel/linux_kernel.h"
#include "nfnl-server/nftables/kernel_caps.h"
#include "nfnl-server/nftables/protocol.h"
#include "nfnl-server/offload/hybrid_hook.h"
#include "nfnl-server/offload/offload_hook.h"

#include <linux/netlink.h>
#include <string.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace nfbpf::offload {

std::optional<OffloadMode> parse_offload_mode(std::string_view s) {
  if (s == "none") return OffloadMode::kNone;
  if (s == "strict") return OffloadMode::kStrict;
  if (s == "hybrid") return OffloadMode::kHybrid;
  return std::nullopt;
}

std::unique_ptr<nftables::CommitHook> make_commit_hook(OffloadMode mode) {
  if (mode == OffloadMode::kNone) return std::make_unique<nftables::AcceptAllHook>();
  if (mode == OffloadMode::kHybrid)
    return std::make_unique<HybridHook>(std::make_unique<OffloadHook>(std::make_unique<codegen::kernel::LinuxKernel>()));
  return std::make_unique<OffloadHook>(std::make_unique<codegen::kernel::LinuxKernel>());
}

std::unique_ptr<nfnl::NetlinkProtocol> make_offload_protocol(OffloadMode mode) {
  // Ask the kernel what it lacks now, at start, rather than on the first rule (~0.1 s).
  nftables::kernel_caps();
  return nftables::make_nftables_protocol(make_commit_hook(mode));
}

}  // namespace nfbpf::offload

namespace nfbpf::offload {

OffloadBackend make_offload_backend(OffloadMode mode) { return make_offload_backend(mode, PersistOptions{}); }

namespace {

struct NoMulticast : nfnl::Multicast {
  void publish(uint32_t, nfnl::Message, uint32_t) override {}
};

// The first error among a batch's replies (0: none), with its extended-ack message.
int first_error(const std::vector<nfnl::Message>& replies, std::string* text) {
  for (const auto& m : replies) {
    if (m.size() < NLMSG_HDRLEN + sizeof(nlmsgerr)) continue;
    const auto* h = reinterpret_cast<const nlmsghdr*>(m.data());
    if (h->nlmsg_type != NLMSG_ERROR) continue;
    const auto* e = reinterpret_cast<const nlmsgerr*>(m.data() + NLMSG_HDRLEN);
    if (e->error == 0) continue;
    size_t off = NLMSG_HDRLEN + sizeof(nlmsgerr);
    if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += NLMSG_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN;
    while (off + sizeof(nlattr) <= m.size()) {
      const auto* a = reinterpret_cast<const nlattr*>(m.data() + off);
      if (a->nla_len < sizeof(nlattr) || off + a->nla_len > m.size()) break;
      if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG)
        text->assign(reinterpret_cast<const char*>(a) + sizeof(nlattr), strnlen(reinterpret_cast<const char*>(a) + sizeof(nlattr), a->nla_len - sizeof(nlattr)));
      off += NLA_ALIGN(a->nla_len);
    }
    *text = fmt::format("{} (message type {:#x}, seq {})", text->empty() ? "no message" : *text, e->msg.nlmsg_type,
                        e->msg.nlmsg_seq);
    return -e->error;
  }
  return 0;
}

// Adopts what an earlier daemon pinned and replays its saved ruleset through the protocol.
std::function<Result<void>()> replay_saved(OffloadHook* hook, nfnl::NetlinkProtocol* proto) {
  return [hook, proto]() -> Result<void> {
    auto batch = hook->adopt();
    if (!batch) return std::unexpected(std::move(batch).error());
    if (!*batch) return {};
    NoMulticast mc;
    const nfnl::Peer self{.portid = 0, .pid = ::getpid(), .comm = "nfbpfd", .cap_net_admin = true, .ext_ack = true};
    std::string text;
    if (int err = first_error(proto->handle(self, **batch, mc), &text); err != 0)
      return failf(err, "replaying the saved ruleset failed: {}", text);
    return {};
  };
}

}  // namespace

OffloadBackend make_offload_backend(OffloadMode mode, const PersistOptions& persist) {
  nftables::kernel_caps();
  if (mode == OffloadMode::kNone) {
    return {nftables::make_nftables_protocol(std::make_unique<nftables::AcceptAllHook>()),
            [] { return to_json(OffloadStatus{.mode = "none"}).dump(); }};
  }
  if (mode == OffloadMode::kHybrid) {
    // Persistence: the BPF side pins and adopts as strict does; the kernel tables carry
    // NFT_TABLE_F_PERSIST and are adopted by the next daemon (kernel_tables.h).
    auto bpf = std::make_unique<OffloadHook>(std::make_unique<codegen::kernel::LinuxKernel>(),
                                             resolve_device_in_current_netns, persist);
    OffloadHook* raw_bpf = bpf.get();
    auto hybrid = std::make_unique<HybridHook>(std::move(bpf));
    HybridHook* raw = hybrid.get();  // owned by the protocol from here on
    // Only when the BPF side is pinned too: with --state-dir alone BPF programs die with the
    // daemon, and a kernel half that kept filtering would be half a ruleset.
    if (!persist.state_dir.empty() && !persist.bpffs.empty())
      raw->persist_kernel_tables(persist.state_dir + "/kernel_tables.json");
    OffloadBackend b{nftables::make_nftables_protocol(std::move(hybrid)), [raw] { return to_json(raw->status()).dump(); }};
    b.hook = raw_bpf;
    b.restore = replay_saved(raw_bpf, b.protocol.get());
    b.stop = [raw, raw_bpf](bool flush) {
      if (flush) {
        raw_bpf->forget_persistent_state();
        raw->remove_kernel_tables();
      } else {
        raw_bpf->leave_running_on_exit();
      }
    };
    return b;
  }
  auto hook = std::make_unique<OffloadHook>(std::make_unique<codegen::kernel::LinuxKernel>(),
                                            resolve_device_in_current_netns, persist);
  OffloadHook* raw = hook.get();  // owned by the protocol from here on
  OffloadBackend b{nftables::make_nftables_protocol(std::move(hook)), [raw] { return to_json(raw->status()).dump(); }};
  b.hook = raw;
  b.restore = replay_saved(raw, b.protocol.get());
  b.stop = [raw](bool flush) {
    if (flush) raw->forget_persistent_state();
    else raw->leave_running_on_exit();
  };
  return b;
}

}  // namespace nfbpf::offload
