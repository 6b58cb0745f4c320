#include "nfnl-server/nftables/kernel_probe.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include "common/fd.h"

namespace nfbpf::nftables {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr std::string_view kSentinel = "nfbpf-probe-unknown";  // no kernel has this type
constexpr std::string_view kCore = "immediate";                // part of nf_tables itself

// Appends netlink messages to one batch buffer; nests are closed by patching their length.
class BatchWriter {
 public:
  // Starts a message; returns its offset in the buffer (for attribute offsets in acks).
  size_t begin(uint16_t type, uint16_t flags, uint32_t seq, uint8_t family, uint16_t res_id) {
    msg_ = buf_.size();
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = uint16_t(NLM_F_REQUEST | flags);
    h.nlmsg_seq = seq;
    append(&h, sizeof h);
    nfgenmsg g{};
    g.nfgen_family = family;
    g.version = NFNETLINK_V0;
    g.res_id = htons(res_id);
    append(&g, sizeof g);
    return msg_;
  }
  void end() { patch_len32(msg_, uint32_t(buf_.size() - msg_)); }

  // Returns the attribute's offset from the start of the current message.
  size_t attr(uint16_t type, const void* data, size_t len) {
    const size_t at = buf_.size();
    nlattr a{uint16_t(NLA_HDRLEN + len), type};
    append(&a, sizeof a);
    append(data, len);
    buf_.resize(NLMSG_ALIGN(buf_.size()), 0);
    return at - msg_;
  }
  size_t str(uint16_t type, std::string_view s) {
    Bytes v(s.begin(), s.end());
    v.push_back(0);
    return attr(type, v.data(), v.size());
  }
  void be32(uint16_t type, uint32_t v) {
    v = htonl(v);
    attr(type, &v, 4);
  }
  size_t nest_begin(uint16_t type) {
    const size_t at = buf_.size();
    nlattr a{NLA_HDRLEN, uint16_t(type | NLA_F_NESTED)};
    append(&a, sizeof a);
    return at;
  }
  // Offset of the nest from the start of the current message.
  size_t nest_end(size_t at) {
    const uint16_t len = uint16_t(buf_.size() - at);
    std::memcpy(&buf_[at], &len, 2);
    return at - msg_;
  }
  const Bytes& bytes() const { return buf_; }

 private:
  void append(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  void patch_len32(size_t at, uint32_t len) { std::memcpy(&buf_[at], &len, 4); }
  Bytes buf_;
  size_t msg_ = 0;
};

uint16_t nft_type(uint16_t msg) { return uint16_t(NFNL_SUBSYS_NFTABLES << 8 | msg); }

// One answer of the kernel to a message of the batch.
struct Answer {
  int error = 0;                // positive errno, 0 for an ack
  std::optional<uint32_t> offs;  // NLMSGERR_ATTR_OFFS
};

class ProbeSocket {
 public:
  static Result<ProbeSocket> open() {
    Fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
    if (!fd) return fail_errno("netlink socket");
    const int one = 1;
    if (::setsockopt(fd.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one) < 0)
      return fail_errno("NETLINK_EXT_ACK");
    if (::setsockopt(fd.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one) < 0)
      return fail_errno("NETLINK_CAP_ACK");
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0)
      return fail_errno("bind netlink");
    return ProbeSocket(std::move(fd));
  }

  // Sends one batch and collects the answers by sequence number until `last_seq` (which must
  // carry NLM_F_ACK) has been answered.
  Result<std::map<uint32_t, Answer>> exchange(const Bytes& batch, uint32_t last_seq) {
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd_.get(), batch.data(), batch.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                 sizeof kernel) < 0)
      return fail_errno("send probe batch");
    std::map<uint32_t, Answer> out;
    alignas(nlmsghdr) uint8_t buf[16384];
    while (!out.contains(last_seq)) {
      pollfd p{fd_.get(), POLLIN, 0};
      const int ready = ::poll(&p, 1, 2000);  // the kernel answers before sendto returns
      if (ready < 0) return fail_errno("poll probe socket");
      if (ready == 0) return fail(ETIMEDOUT, "kernel did not answer the probe batch");
      const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n < 0) return fail_errno("recv probe answer");
      int len = int(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_type != NLMSG_ERROR) continue;
        out[h->nlmsg_seq] = parse_error(h);
      }
    }
    return out;
  }

 private:
  explicit ProbeSocket(Fd fd) : fd_(std::move(fd)) {}

  static Answer parse_error(const nlmsghdr* h) {
    Answer a;
    const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
    a.error = -e->error;
    if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return a;
    // With NETLINK_CAP_ACK the TLVs follow the copied header directly.
    size_t off = NLMSG_HDRLEN + sizeof(nlmsgerr);
    if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += NLMSG_ALIGN(e->msg.nlmsg_len) - sizeof(nlmsghdr);
    const auto* base = reinterpret_cast<const uint8_t*>(h);
    while (off + NLA_HDRLEN <= h->nlmsg_len) {
      nlattr at;
      std::memcpy(&at, base + off, sizeof at);
      if (at.nla_len < NLA_HDRLEN || off + at.nla_len > h->nlmsg_len) break;
      if ((at.nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_OFFS && at.nla_len >= NLA_HDRLEN + 4) {
        uint32_t v;
        std::memcpy(&v, base + off + NLA_HDRLEN, 4);
        a.offs = v;
      }
      off += NLA_ALIGN(at.nla_len);
    }
    return a;
  }

  Fd fd_;
};

constexpr uint32_t kTableSeq = 1, kChainSeq = 2, kRuleSeq = 3, kObjSeq = 2;

void batch_begin(BatchWriter& w) {
  w.begin(NFNL_MSG_BATCH_BEGIN, 0, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
  w.end();
}
void batch_end(BatchWriter& w, uint32_t seq) {
  w.begin(NFNL_MSG_BATCH_END, 0, seq, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
  w.end();
}
void new_table(BatchWriter& w, uint8_t family) {
  w.begin(nft_type(NFT_MSG_NEWTABLE), NLM_F_CREATE, kTableSeq, family, 0);
  w.str(NFTA_TABLE_NAME, "probe");
  w.end();
}

enum class Known : uint8_t { kYes, kNo, kFamilyUnsupported };

// The expression-type probe described in kernel_probe.h.
Result<Known> probe_expr(ProbeSocket& s, uint8_t family, std::string_view name) {
  BatchWriter w;
  batch_begin(w);
  new_table(w, family);
  w.begin(nft_type(NFT_MSG_NEWCHAIN), NLM_F_CREATE, kChainSeq, family, 0);
  w.str(NFTA_CHAIN_TABLE, "probe");
  w.str(NFTA_CHAIN_NAME, "probe");
  w.end();
  w.begin(nft_type(NFT_MSG_NEWRULE), NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, kRuleSeq, family, 0);
  w.str(NFTA_RULE_TABLE, "probe");
  w.str(NFTA_RULE_CHAIN, "probe");
  const size_t list = w.nest_begin(NFTA_RULE_EXPRESSIONS);
  const size_t first = w.nest_begin(NFTA_LIST_ELEM);
  w.str(NFTA_EXPR_NAME, name);
  const size_t first_off = w.nest_end(first);
  const size_t second_off = w.nest_end(w.nest_begin(NFTA_LIST_ELEM));
  w.nest_end(list);
  w.end();
  batch_end(w, kRuleSeq + 1);
  NFBPF_TRY_ASSIGN(answers, s.exchange(w.bytes(), kRuleSeq));
  if (answers.contains(kTableSeq) || answers.contains(kChainSeq)) return Known::kFamilyUnsupported;
  const Answer& a = answers.at(kRuleSeq);
  if (a.error == ENOENT && a.offs == first_off) return Known::kNo;
  if (a.offs == second_off || a.offs == first_off || a.error == 0) return Known::kYes;
  return failf(EPROTO, "probe of expression {} (family {}): unexpected answer {} at offset {}",
               name, family, a.error, a.offs ? int64_t(*a.offs) : -1);
}

// NEWTABLE + NEWOBJ; returns the NEWOBJ answer (nullopt if the table itself failed).
Result<std::optional<Answer>> new_obj(ProbeSocket& s, uint8_t family, uint32_t type,
                                      std::string_view secmark_ctx = {}) {
  BatchWriter w;
  batch_begin(w);
  new_table(w, family);
  w.begin(nft_type(NFT_MSG_NEWOBJ), NLM_F_CREATE | NLM_F_ACK, kObjSeq, family, 0);
  w.str(NFTA_OBJ_TABLE, "probe");
  w.str(NFTA_OBJ_NAME, "probe");
  w.be32(NFTA_OBJ_TYPE, type);
  const size_t data = w.nest_begin(NFTA_OBJ_DATA);
  if (!secmark_ctx.empty()) w.str(NFTA_SECMARK_CTX, secmark_ctx);
  w.nest_end(data);
  w.end();
  batch_end(w, kObjSeq + 1);
  NFBPF_TRY_ASSIGN(answers, s.exchange(w.bytes(), kObjSeq));
  if (answers.contains(kTableSeq)) return std::optional<Answer>();
  return std::optional<Answer>(answers.at(kObjSeq));
}

Result<KernelCaps> probe_in_this_thread(const ProbeRequest& req) {
  if (::unshare(CLONE_NEWNET) < 0) return fail_errno("unshare(CLONE_NEWNET) for the kernel probe");
  NFBPF_TRY_ASSIGN(sock, ProbeSocket::open());
  // The method only works if the kernel answers as expected for a type it certainly lacks
  // and one it certainly has.
  NFBPF_TRY_ASSIGN(sentinel, probe_expr(sock, NFPROTO_IPV4, kSentinel));
  NFBPF_TRY_ASSIGN(core, probe_expr(sock, NFPROTO_IPV4, kCore));
  if (sentinel != Known::kNo || core != Known::kYes)
    return fail(EPROTO, "kernel probe: sentinel/core expression answers not as expected");

  KernelCaps caps;
  for (uint8_t family : req.families) {
    for (std::string_view name : req.exprs) {
      NFBPF_TRY_ASSIGN(k, probe_expr(sock, family, name));
      if (k == Known::kFamilyUnsupported) break;
      if (k == Known::kNo) caps.missing_exprs.emplace(family, std::string(name));
    }
    for (uint32_t type : req.objects) {
      NFBPF_TRY_ASSIGN(a, new_obj(sock, family, type));
      if (!a) break;
      if (a->error == ENOENT) caps.missing_objects.emplace(family, type);
    }
  }
  // Secmark: a context no LSM resolves makes every secmark object ENOENT
  // (nft_secmark_compute_secid). Asked in inet, where the object type exists if at all.
  if (caps.has_object(NFPROTO_INET, NFT_OBJECT_SECMARK)) {
    NFBPF_TRY_ASSIGN(a, new_obj(sock, NFPROTO_INET, NFT_OBJECT_SECMARK,
                                "system_u:object_r:nfbpf_probe_t:s0"));
    caps.secmark_unresolvable = a && a->error == ENOENT;
  }
  caps.probed = true;
  return caps;
}

}  // namespace

const ProbeRequest& default_probe_request() {
  static const ProbeRequest r = {
      {NFPROTO_INET, NFPROTO_IPV4, NFPROTO_IPV6, NFPROTO_ARP, NFPROTO_BRIDGE, NFPROTO_NETDEV},
      {"immediate", "cmp",       "payload",   "meta",     "counter",  "bitwise", "byteorder",
       "lookup",    "range",     "ct",        "rt",       "fib",      "exthdr",  "reject",
       "nat",       "masq",      "redir",     "limit",    "quota",    "log",     "queue",
       "dynset",    "objref",    "notrack",   "socket",   "hash",     "numgen",  "dup",
       "fwd",       "connlimit", "tproxy",    "synproxy", "osf",      "xfrm",    "last",
       "match",     "target",    "flow_offload", "tunnel", "inner"},
      {NFT_OBJECT_COUNTER, NFT_OBJECT_QUOTA, NFT_OBJECT_CT_HELPER, NFT_OBJECT_LIMIT,
       NFT_OBJECT_CONNLIMIT, NFT_OBJECT_TUNNEL, NFT_OBJECT_CT_TIMEOUT, NFT_OBJECT_SECMARK,
       NFT_OBJECT_CT_EXPECT, NFT_OBJECT_SYNPROXY},
  };
  return r;
}

Result<KernelCaps> probe_kernel(const ProbeRequest& req) {
  // A thread of its own: unshare(CLONE_NEWNET) changes only the calling thread's namespace,
  // and the namespace (with anything the probe created) goes away with the thread's socket.
  Result<KernelCaps> out = fail(EINVAL, "kernel probe did not run");
  std::thread t([&] { out = probe_in_this_thread(req); });
  t.join();
  return out;
}

}  // namespace nfbpf::nftables
