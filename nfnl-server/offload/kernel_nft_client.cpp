#include "nfnl-server/offload/kernel_nft_client.h"

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <cstring>

#include <fmt/format.h>

namespace nfbpf::offload {

namespace {

constexpr int kBufferBytes = 16 << 20;
constexpr size_t kRecvBytes = 32768;  // one dump record of the kernel's at most  // large batches (10 000 rules ~ 5 MB) and their acks

// NLMSGERR_ATTR_MSG of an error reply (ext ack), "" if none.
std::string ext_ack_text(const nlmsghdr* nlh) {
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  size_t off = sizeof(nlmsgerr);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) off += err->msg.nlmsg_len - sizeof(nlmsghdr);
  std::string text;
  const auto* base = static_cast<const uint8_t*>(mnl_nlmsg_get_payload(nlh));
  const size_t len = mnl_nlmsg_get_payload_len(nlh);
  while (off + sizeof(nlattr) <= len) {
    const auto* a = reinterpret_cast<const nlattr*>(base + off);
    if (a->nla_len < sizeof(nlattr) || off + a->nla_len > len) break;
    if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG) text = mnl_attr_get_str(a);
    off += MNL_ALIGN(a->nla_len);
  }
  return text;
}

}  // namespace

KernelMsg kernel_msg(uint16_t type, uint8_t family, uint16_t flags, size_t room,
                     const std::function<void(nlmsghdr*)>& fill, std::string what) {
  KernelMsg m{std::vector<uint8_t>(MNL_NLMSG_HDRLEN + sizeof(nfgenmsg) + room + 4096), std::move(what)};
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(reinterpret_cast<char*>(m.bytes.data()), type, family, flags, 0);
  if (fill) fill(nlh);
  m.bytes.resize(nlh->nlmsg_len);
  return m;
}

KernelNftClient::KernelNftClient() = default;

KernelNftClient::~KernelNftClient() {
  if (nl_) mnl_socket_close(nl_);
}

Result<void> KernelNftClient::open() {
  if (nl_) return {};
  nl_ = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (!nl_) return fail_errno("kernel nf_tables: netlink socket");
  if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
    auto e = fail_errno("kernel nf_tables: bind");
    mnl_socket_close(nl_);
    nl_ = nullptr;
    return e;
  }
  portid_ = mnl_socket_get_portid(nl_);
  const int fd = mnl_socket_get_fd(nl_);
  // Big batches and many acks: the default buffers (~200 KB) drop them (ENOBUFS).
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &kBufferBytes, sizeof(kBufferBytes));
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kBufferBytes, sizeof(kBufferBytes));
  int on = 1;
  mnl_socket_setsockopt(nl_, NETLINK_EXT_ACK, &on, sizeof(on));
  mnl_socket_setsockopt(nl_, NETLINK_CAP_ACK, &on, sizeof(on));  // errors without our request copied back
  timeval tv{.tv_sec = 5, .tv_usec = 0};  // the kernel answers within the send; never hang the daemon
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  seq_ = static_cast<uint32_t>(::time(nullptr));
  return {};
}

Result<void> KernelNftClient::batch(std::span<const KernelMsg> msgs,
                                    const std::function<void(size_t, const nlmsghdr*)>& echo) {
  NFBPF_TRYV(open());
  if (msgs.empty()) return {};
  size_t total = 2 * MNL_ALIGN(MNL_NLMSG_HDRLEN + sizeof(nfgenmsg));
  for (const KernelMsg& m : msgs) total += MNL_ALIGN(m.bytes.size());
  std::vector<uint8_t> buf(total, 0);
  size_t off = 0;
  const uint32_t begin_seq = seq_++;
  nftnl_batch_begin(reinterpret_cast<char*>(buf.data()), begin_seq);
  off += MNL_ALIGN(reinterpret_cast<nlmsghdr*>(buf.data())->nlmsg_len);
  const uint32_t first_seq = seq_;
  for (const KernelMsg& m : msgs) {
    std::memcpy(buf.data() + off, m.bytes.data(), m.bytes.size());
    auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data() + off);
    nlh->nlmsg_seq = seq_++;
    nlh->nlmsg_flags |= NLM_F_ACK;
    off += MNL_ALIGN(m.bytes.size());
  }
  nftnl_batch_end(reinterpret_cast<char*>(buf.data() + off), seq_++);
  off += MNL_ALIGN(reinterpret_cast<nlmsghdr*>(buf.data() + off)->nlmsg_len);
  if (mnl_socket_sendto(nl_, buf.data(), off) < 0) return fail_errno("kernel nf_tables: sending the batch");
  return wait_acks(msgs.size(), msgs, first_seq, echo);
}

Result<void> KernelNftClient::wait_acks(size_t expected, std::span<const KernelMsg> msgs, uint32_t first_seq,
                                        const std::function<void(size_t, const nlmsghdr*)>& echo) {
  int first_error = 0;
  std::string detail;
  size_t answered = 0;
  std::vector<uint8_t> buf(kRecvBytes * 4);
  const int fd = mnl_socket_get_fd(nl_);
  while (answered < expected) {
    // After an error the kernel has queued everything it will send: take it without waiting.
    ssize_t n = ::recv(fd, buf.data(), buf.size(), first_error ? MSG_DONTWAIT : 0);
    if (n < 0) {
      if (first_error) break;
      return fail_errno("kernel nf_tables: waiting for the batch's acks");
    }
    int left = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
      if (nlh->nlmsg_type != NLMSG_ERROR) {
        // Echoes come at commit, before the acks (nfnetlink delivers those after the commit).
        if (echo && nlh->nlmsg_seq - first_seq < msgs.size()) echo(nlh->nlmsg_seq - first_seq, nlh);
        continue;
      }
      ++answered;
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      if (err->error == 0 || first_error) continue;
      first_error = -err->error;
      const uint32_t idx = nlh->nlmsg_seq - first_seq;
      const std::string what = idx < msgs.size() ? msgs[idx].what : fmt::format("message seq {}", nlh->nlmsg_seq);
      const std::string text = ext_ack_text(nlh);
      detail = text.empty() ? what : fmt::format("{}: {}", what, text);
    }
  }
  if (first_error) return failf(first_error, "the kernel refused {}: {}", detail, std::strerror(first_error));
  return {};
}

Result<void> KernelNftClient::dump(const KernelMsg& request, const std::function<void(const nlmsghdr*)>& each) {
  NFBPF_TRYV(open());
  std::vector<uint8_t> req = request.bytes;
  auto* nlh = reinterpret_cast<nlmsghdr*>(req.data());
  nlh->nlmsg_flags |= NLM_F_DUMP | NLM_F_REQUEST;
  const uint32_t seq = nlh->nlmsg_seq = seq_++;
  if (mnl_socket_sendto(nl_, req.data(), req.size()) < 0) return fail_errno("kernel nf_tables: sending a dump request");
  std::vector<uint8_t> buf(kRecvBytes);
  struct Ctx { const std::function<void(const nlmsghdr*)>* each; } ctx{&each};
  auto cb = [](const nlmsghdr* m, void* data) -> int {
    (*static_cast<Ctx*>(data)->each)(m);
    return MNL_CB_OK;
  };
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
    if (n < 0) return fail_errno(fmt::format("kernel nf_tables: reading the {} dump", request.what));
    int r = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid_, cb, &ctx);
    if (r < 0) return fail_errno(fmt::format("kernel nf_tables: the {} dump", request.what));
    if (r == MNL_CB_STOP) return {};
  }
}

Result<void> KernelNftClient::request(const KernelMsg& request, const std::function<void(const nlmsghdr*)>& each) {
  NFBPF_TRYV(open());
  std::vector<uint8_t> req = request.bytes;
  auto* nlh = reinterpret_cast<nlmsghdr*>(req.data());
  nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  const uint32_t seq = nlh->nlmsg_seq = seq_++;
  if (mnl_socket_sendto(nl_, req.data(), req.size()) < 0) return fail_errno("kernel nf_tables: sending a request");
  std::vector<uint8_t> buf(kRecvBytes);
  struct Ctx { const std::function<void(const nlmsghdr*)>* each; } ctx{&each};
  auto cb = [](const nlmsghdr* m, void* data) -> int {
    auto* c = static_cast<Ctx*>(data);
    if (*c->each) (*c->each)(m);
    return MNL_CB_OK;
  };
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
    if (n < 0) return fail_errno(fmt::format("kernel nf_tables: {}", request.what));
    // mnl_cb_run stops (0) at the ack and fails (-1, errno) at an error.
    int r = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid_, cb, &ctx);
    if (r < 0) return fail_errno(fmt::format("kernel nf_tables: {}", request.what));
    if (r == MNL_CB_STOP) return {};
  }
}

}  // namespace nfbpf::offload
