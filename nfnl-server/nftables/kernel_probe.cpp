#include "nfnl-server/nftables/kernel_probe.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include "common/fd.h"
#include "nfnl-server/nftables/nla.h"  // NFBPF_TRY_ASSIGN

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
      // Walked by hand: NLMSG_OK() mixes signed and unsigned (clang -Wsign-compare).
      for (size_t off = 0; off + sizeof(nlmsghdr) <= size_t(n);) {
        const auto* h = reinterpret_cast<const nlmsghdr*>(buf + off);
        if (h->nlmsg_len < sizeof(nlmsghdr) || off + h->nlmsg_len > size_t(n)) break;
        if (h->nlmsg_type == NLMSG_ERROR) out[h->nlmsg_seq] = parse_error(h);
        off += NLMSG_ALIGN(h->nlmsg_len);
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

constexpr uint32_t kTableSeq = 1, kChainSeq = 2;

// The probes of one family, all in ONE batch: the kernel goes on after a failing message and
// answers each, so one batch (one abort) per family keeps the probe near a millisecond per
// family instead of one abort (an RCU grace period) per question.
class FamilyBatch {
 public:
  explicit FamilyBatch(uint8_t family) : family_(family) {
    w_.begin(NFNL_MSG_BATCH_BEGIN, 0, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    w_.end();
    w_.begin(nft_type(NFT_MSG_NEWTABLE), NLM_F_CREATE, kTableSeq, family, 0);
    w_.str(NFTA_TABLE_NAME, "probe");
    w_.end();
    w_.begin(nft_type(NFT_MSG_NEWCHAIN), NLM_F_CREATE, kChainSeq, family, 0);
    w_.str(NFTA_CHAIN_TABLE, "probe");
    w_.str(NFTA_CHAIN_NAME, "probe");
    w_.end();
  }

  // A rule [{name, no data}, {no name}]; see kernel_probe.h. Returns its sequence number.
  uint32_t expr_type(std::string_view name) {
    ExprProbe p;
    const uint32_t seq = begin_rule();
    const size_t first = w_.nest_begin(NFTA_LIST_ELEM);
    w_.str(NFTA_EXPR_NAME, name);
    p.first_off = w_.nest_end(first);
    p.second_off = w_.nest_end(w_.nest_begin(NFTA_LIST_ELEM));
    end_rule();
    exprs_[seq] = p;
    return seq;
  }

  // A rule [meta get key -> reg 1], or [meta set key <- reg 1] if `set`.
  uint32_t meta(uint32_t key, bool set) {
    const uint32_t seq = begin_rule();
    if (set) {
      // Loads from a register nothing wrote are refused (ENODATA): fill reg 1 (16 bytes) first.
      const size_t imm = w_.nest_begin(NFTA_LIST_ELEM);
      w_.str(NFTA_EXPR_NAME, "immediate");
      const size_t d = w_.nest_begin(NFTA_EXPR_DATA);
      w_.be32(NFTA_IMMEDIATE_DREG, NFT_REG_1);
      const size_t v = w_.nest_begin(NFTA_IMMEDIATE_DATA);
      const uint8_t zero[16] = {};
      w_.attr(NFTA_DATA_VALUE, zero, sizeof zero);
      w_.nest_end(v);
      w_.nest_end(d);
      w_.nest_end(imm);
    }
    const size_t el = w_.nest_begin(NFTA_LIST_ELEM);
    w_.str(NFTA_EXPR_NAME, "meta");
    const size_t data = w_.nest_begin(NFTA_EXPR_DATA);
    w_.be32(NFTA_META_KEY, key);
    w_.be32(set ? NFTA_META_SREG : NFTA_META_DREG, NFT_REG_1);
    w_.nest_end(data);
    w_.nest_end(el);
    end_rule();
    return seq;
  }

  // An object of `type` (named after its sequence number) with an empty data nest, or a
  // secmark object with `secmark_ctx`.
  uint32_t object(uint32_t type, std::string_view secmark_ctx = {}) {
    const uint32_t seq = next_seq_++;
    w_.begin(nft_type(NFT_MSG_NEWOBJ), NLM_F_CREATE | NLM_F_ACK, seq, family_, 0);
    w_.str(NFTA_OBJ_TABLE, "probe");
    w_.str(NFTA_OBJ_NAME, fmt::format("o{}", seq));
    w_.be32(NFTA_OBJ_TYPE, type);
    const size_t data = w_.nest_begin(NFTA_OBJ_DATA);
    if (!secmark_ctx.empty()) w_.str(NFTA_SECMARK_CTX, secmark_ctx);
    w_.nest_end(data);
    w_.end();
    return seq;
  }

  // A flowtable with an ingress hook and no devices: nft_flowtable_type_get() fails with
  // ENOENT before the hook is looked at when the family has no flowtable type.
  uint32_t flowtable() {
    const uint32_t seq = next_seq_++;
    w_.begin(nft_type(NFT_MSG_NEWFLOWTABLE), NLM_F_CREATE | NLM_F_ACK, seq, family_, 0);
    w_.str(NFTA_FLOWTABLE_TABLE, "probe");
    w_.str(NFTA_FLOWTABLE_NAME, "probe");
    const size_t hook = w_.nest_begin(NFTA_FLOWTABLE_HOOK);
    w_.be32(NFTA_FLOWTABLE_HOOK_NUM, NF_NETDEV_INGRESS);
    w_.be32(NFTA_FLOWTABLE_HOOK_PRIORITY, 0);
    w_.nest_end(hook);
    w_.end();
    return seq;
  }

  // Sends the batch; nullopt when the family cannot even have a table.
  Result<std::optional<std::map<uint32_t, Answer>>> run(ProbeSocket& s) {
    const uint32_t last = next_seq_ - 1;
    w_.begin(NFNL_MSG_BATCH_END, 0, next_seq_, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    w_.end();
    NFBPF_TRY_ASSIGN(answers, s.exchange(w_.bytes(), last));
    if (answers.contains(kTableSeq) || answers.contains(kChainSeq))
      return std::optional<std::map<uint32_t, Answer>>();
    return std::optional<std::map<uint32_t, Answer>>(std::move(answers));
  }

  // Classifies the answer to an expr_type() probe.
  Result<bool> known(uint32_t seq, const Answer& a, std::string_view name) const {
    const ExprProbe& p = exprs_.at(seq);
    if (a.error == ENOENT && a.offs == p.first_off) return false;
    if (a.error == 0 || a.offs == p.second_off || a.offs == p.first_off) return true;
    return failf(EPROTO, "probe of expression {} (family {}): unexpected answer {} at offset {}",
                 name, family_, a.error, a.offs ? int64_t(*a.offs) : -1);
  }

 private:
  struct ExprProbe {
    size_t first_off = 0, second_off = 0;
  };
  uint32_t begin_rule() {
    const uint32_t seq = next_seq_++;
    w_.begin(nft_type(NFT_MSG_NEWRULE), NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, seq, family_, 0);
    w_.str(NFTA_RULE_TABLE, "probe");
    w_.str(NFTA_RULE_CHAIN, "probe");
    list_ = w_.nest_begin(NFTA_RULE_EXPRESSIONS);
    return seq;
  }
  void end_rule() {
    w_.nest_end(list_);
    w_.end();
  }

  uint8_t family_;
  BatchWriter w_;
  uint32_t next_seq_ = 10;
  size_t list_ = 0;
  std::map<uint32_t, ExprProbe> exprs_;
};

constexpr std::string_view kSecmarkCtx = "system_u:object_r:nfbpf_probe_t:s0";

// Probes one family into `caps`; false when the family has no tables on this kernel.
Result<bool> probe_family(ProbeSocket& sock, uint8_t family, const ProbeRequest& req,
                          bool sanity, KernelCaps& caps) {
  FamilyBatch b(family);
  std::map<uint32_t, std::string_view> expr_seq;
  for (std::string_view name : req.exprs) expr_seq[b.expr_type(name)] = name;
  uint32_t sentinel = 0, core = 0;
  if (sanity) sentinel = b.expr_type(kSentinel), core = b.expr_type(kCore);
  std::map<uint32_t, uint32_t> get_seq, set_seq, obj_seq;
  for (uint32_t key : req.meta_keys) get_seq[b.meta(key, false)] = key;
  for (uint32_t key : req.meta_keys) set_seq[b.meta(key, true)] = key;
  for (uint32_t type : req.objects) obj_seq[b.object(type)] = type;
  const uint32_t secmark = b.object(NFT_OBJECT_SECMARK, kSecmarkCtx);
  const uint32_t flowtable = b.flowtable();
  NFBPF_TRY_ASSIGN(answers, b.run(sock));
  if (!answers) {
    caps.unsupported_families.insert(family);
    return false;
  }
  auto answer = [&](uint32_t seq) -> const Answer& { return answers->at(seq); };
  if (sanity) {
    NFBPF_TRY_ASSIGN(s, b.known(sentinel, answer(sentinel), kSentinel));
    NFBPF_TRY_ASSIGN(c, b.known(core, answer(core), kCore));
    // The method only works if the kernel answers as expected for a type it certainly lacks
    // and one it certainly has.
    if (s || !c) return fail(EPROTO, "kernel probe: sentinel/core expression answers not as expected");
  }
  for (const auto& [seq, name] : expr_seq) {
    NFBPF_TRY_ASSIGN(k, b.known(seq, answer(seq), name));
    if (!k) caps.missing_exprs.emplace(family, std::string(name));
  }
  for (const auto& [seq, key] : get_seq)
    if (int e = answer(seq).error) caps.meta_get_errors[{family, key}] = e;
  for (const auto& [seq, key] : set_seq)
    if (int e = answer(seq).error) caps.meta_set_errors[{family, key}] = e;
  for (const auto& [seq, type] : obj_seq)
    if (answer(seq).error == ENOENT) caps.missing_objects.emplace(family, type);
  if (answer(flowtable).error == ENOENT) caps.missing_flowtables.insert(family);
  // A context no LSM resolves makes every secmark object ENOENT (nft_secmark_compute_secid).
  if (family == NFPROTO_INET) caps.secmark_unresolvable = answer(secmark).error == ENOENT;
  return true;
}

Result<KernelCaps> probe_in_this_thread(const ProbeRequest& req) {
  if (::unshare(CLONE_NEWNET) < 0) return fail_errno("unshare(CLONE_NEWNET) for the kernel probe");
  NFBPF_TRY_ASSIGN(sock, ProbeSocket::open());
  KernelCaps caps;
  // The sanity check runs in ipv4, which every nf_tables kernel has.
  NFBPF_TRY_ASSIGN(v4, probe_family(sock, NFPROTO_IPV4, req, true, caps));
  if (!v4) return fail(EPROTO, "kernel probe: no ip family tables");
  for (uint8_t family : req.families)
    if (family != NFPROTO_IPV4) NFBPF_TRYV(probe_family(sock, family, req, false, caps));
  if (std::find(req.families.begin(), req.families.end(), NFPROTO_INET) == req.families.end())
    caps.secmark_unresolvable = false;
  caps.probed = true;
  return caps;
}

}  // namespace

namespace {
// Every key the uapi header names (NFT_META_LEN .. NFT_META_BRI_BROUTE).
std::vector<uint32_t> meta_keys() {
  std::vector<uint32_t> v;
  for (uint32_t k = NFT_META_LEN; k < __NFT_META_IIFTYPE; k++) v.push_back(k);
  return v;
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
      meta_keys(),
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
