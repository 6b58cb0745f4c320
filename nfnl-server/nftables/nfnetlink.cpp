// The nfnetlink receive path for NFNL_SUBSYS_NFTABLES: single requests (netlink_rcv_skb +
// nfnetlink_rcv_msg) and batches (nfnetlink_rcv_skb_batch + nfnetlink_rcv_batch), with the
// kernel's silent drops, per-message errors, all-or-nothing commit and abort.
#include <arpa/inet.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "nfnl-server/compat/compat_get.h"
#include "nfnl-server/nftables/ack.h"
#include "nfnl-server/nftables/dispatch.h"
#include "nfnl-server/nftables/fill.h"
#include "nfnl-server/nftables/handlers.h"
#include "nfnl-server/nftables/notify.h"
#include "nfnl-server/nftables/policies.h"
#include "nfnl-server/nftables/protocol.h"
#include "nfnl-server/nftables/validate.h"

namespace nfbpf::nftables {
namespace {

constexpr size_t kMinLen = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));  // nlmsg_total_size

nlmsghdr header_at(std::span<const uint8_t> d) {
  nlmsghdr h{};
  std::memcpy(&h, d.data(), sizeof(h));
  return h;
}

uint8_t family_of(std::span<const uint8_t> msg) { return msg[NLMSG_HDRLEN]; }

class NftablesProtocol final : public nfnl::NetlinkProtocol {
 public:
  explicit NftablesProtocol(std::unique_ptr<CommitHook> hook) : hook_(std::move(hook)) {}

  std::vector<nfnl::Message> handle(const nfnl::Peer& peer, std::span<const uint8_t> data,
                                    nfnl::Multicast& mcast) override {
    std::vector<nfnl::Message> out;
    if (data.size() < NLMSG_HDRLEN) return out;
    nlmsghdr h = header_at(data);
    if (h.nlmsg_len < NLMSG_HDRLEN || data.size() < h.nlmsg_len) return out;
    if (!peer.cap_net_admin) {
      out.push_back(make_ack(peer, data.first(h.nlmsg_len), EPERM, nullptr));
      return out;
    }
    if (h.nlmsg_type == NFNL_MSG_BATCH_BEGIN)
      rcv_batch(peer, data, mcast, out);
    else
      rcv_single(peer, data, out);
    return out;
  }

 private:
  // netlink_rcv_skb(): each message answered on its own.
  void rcv_single(const nfnl::Peer& peer, std::span<const uint8_t> data,
                  std::vector<nfnl::Message>& out) {
    while (data.size() >= NLMSG_HDRLEN) {
      nlmsghdr h = header_at(data);
      if (h.nlmsg_len < NLMSG_HDRLEN || data.size() < h.nlmsg_len) return;
      auto msg = data.first(h.nlmsg_len);
      int err = 0;
      Error ext;
      const NlaPolicy* failed_policy = nullptr;
      bool skip_ack = false;
      if ((h.nlmsg_flags & NLM_F_REQUEST) && h.nlmsg_type >= NLMSG_MIN_TYPE) {
        auto r = rcv_msg(peer, msg, out, &failed_policy);
        if (!r) {
          err = r.error().err;
          ext = std::move(r.error());
        } else {
          skip_ack = *r;  // a dump: no ack (the kernel's -EINTR)
        }
      }
      if (!skip_ack && ((h.nlmsg_flags & NLM_F_ACK) || err))
        out.push_back(make_ack(peer, msg, err, &ext, failed_policy));
      size_t len = NLMSG_ALIGN(h.nlmsg_len);
      data = data.subspan(std::min(len, data.size()));
    }
  }

  // nfnetlink_rcv_msg() outside a batch. Returns true if the request was a dump.
  Result<bool> rcv_msg(const nfnl::Peer& peer, std::span<const uint8_t> msg,
                       std::vector<nfnl::Message>& out, const NlaPolicy** failed_policy) {
    nlmsghdr h = header_at(msg);
    if (msg.size() - NLMSG_HDRLEN < sizeof(nfgenmsg)) return false;
    if (NFNL_SUBSYS_ID(h.nlmsg_type) == NFNL_SUBSYS_NFT_COMPAT) {  // iptables-nft revision queries
      NFBPF_TRY_ASSIGN(replies, nfnl::compat::handle_compat_request(msg, peer.portid, failed_policy));
      for (auto& m : replies) out.push_back(std::move(m));
      return false;
    }
    if (NFNL_SUBSYS_ID(h.nlmsg_type) != NFNL_SUBSYS_NFTABLES) return fail(EINVAL, "");
    uint16_t type = NFNL_MSG_TYPE(h.nlmsg_type);
    const MsgHandler* mh = find_handler(type);
    if (!mh) return fail(EINVAL, "");
    const size_t off = std::min(kMinLen, msg.size());
    // Liberal parsing, as in the batch path (verified on 6.18: unknown types are ignored).
    NFBPF_TRY_ASSIGN(nla, parse_attrs(msg.subspan(off), uint32_t(off), policy::for_msg(type),
                                      false, failed_policy));
    if (!mh->get) return fail(EINVAL, "");
    Request req{msg, h, type, family_of(msg), &nla, &peer};
    // Live values (counters, quotas, base chain counters) appear only in rule, object and chain
    // replies: refreshing them for every GET cost a full dump of the kernel-placed rules per
    // message of nft's cache fill (GETGEN, GETTABLE, GETSET, ...) in hybrid mode.
    // The hook learns what this request lists (hybrid mode then dumps only that from the kernel).
    if (type == NFT_MSG_GETRULE || type == NFT_MSG_GETRULE_RESET || type == NFT_MSG_GETCHAIN ||
        type == NFT_MSG_GETOBJ || type == NFT_MSG_GETOBJ_RESET) {
      DumpScope scope{.type = type, .family = req.family};
      static_assert(NFTA_RULE_TABLE == 1 && NFTA_CHAIN_TABLE == 1 && NFTA_OBJ_TABLE == 1);
      if (const Attr* t = req[NFTA_RULE_TABLE]; t) scope.table = std::string(t->str());
      hook_->before_dump(rs_, scope);
    }
    std::vector<nfnl::Message> partial;
    auto got = mh->get(GetCtx{rs_, req, peer.portid, &partial});
    for (auto& m : partial) out.push_back(std::move(m));
    if (!got) return std::unexpected(std::move(got).error());
    auto& replies = *got;
    if (type == NFT_MSG_GETRULE_RESET || type == NFT_MSG_GETOBJ_RESET) hook_->after_reset(rs_, replies);
    for (auto& m : replies) out.push_back(std::move(m));
    return (h.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP && type != NFT_MSG_GETGEN;
  }

  struct PendingAck {
    std::span<const uint8_t> msg;
    int err;
    Error ext;
    const NlaPolicy* policy;
  };

  // nfnetlink_rcv_skb_batch() + nfnetlink_rcv_batch().
  void rcv_batch(const nfnl::Peer& peer, std::span<const uint8_t> data, nfnl::Multicast& mcast,
                 std::vector<nfnl::Message>& out) {
    nlmsghdr begin = header_at(data);
    auto begin_msg = data.first(begin.nlmsg_len);
    if (data.size() < NLMSG_HDRLEN + sizeof(nfgenmsg)) return;
    const size_t off = std::min<size_t>(kMinLen, begin.nlmsg_len);
    auto battrs = parse_attrs(begin_msg.subspan(off), uint32_t(off), policy::batch(), true);
    if (!battrs) {
      out.push_back(make_ack(peer, begin_msg, battrs.error().err, nullptr));
      return;
    }
    uint32_t genid = (*battrs)[NFNL_BATCH_GENID] ? (*battrs)[NFNL_BATCH_GENID]->be32() : 0;
    nfgenmsg g{};
    std::memcpy(&g, data.data() + NLMSG_HDRLEN, sizeof(g));
    uint16_t subsys = g.res_id == NFNL_SUBSYS_NFTABLES ? NFNL_SUBSYS_NFTABLES : ntohs(g.res_id);
    size_t first = std::min<size_t>(NLMSG_ALIGN(begin.nlmsg_len), data.size());
    std::span<const uint8_t> rest = data.subspan(first);

    if (subsys >= NFNL_SUBSYS_COUNT) {
      out.push_back(make_ack(peer, begin_msg, EINVAL, nullptr));
      return;
    }
    if (subsys != NFNL_SUBSYS_NFTABLES) {
      out.push_back(make_ack(peer, begin_msg, EOPNOTSUPP, nullptr));
      return;
    }
    if (genid && genid != rs_.genid) {
      out.push_back(make_ack(peer, begin_msg, ERESTART, nullptr));
      return;
    }

    Txn txn(rs_);
    std::vector<PendingAck> acks;
    bool failure = false, done = false;
    bool replayed = false;
  replay:
    std::span<const uint8_t> cur = rest;
    while (cur.size() >= NLMSG_HDRLEN) {
      nlmsghdr h = header_at(cur);
      if (h.nlmsg_len < NLMSG_HDRLEN || cur.size() < h.nlmsg_len ||
          h.nlmsg_len - NLMSG_HDRLEN < sizeof(nfgenmsg)) {
        acks.clear();
        failure = true;
        break;
      }
      auto msg = cur.first(h.nlmsg_len);
      int err = 0;
      Error ext;
      const NlaPolicy* failed_policy = nullptr;
      if (!(h.nlmsg_flags & NLM_F_REQUEST)) {
        err = EINVAL;
      } else if (h.nlmsg_type == NFNL_MSG_BATCH_BEGIN) {
        acks.clear();
        failure = true;
        break;
      } else if (h.nlmsg_type == NFNL_MSG_BATCH_END) {
        done = true;
        break;
      } else if (h.nlmsg_type < NLMSG_MIN_TYPE ||
                 NFNL_SUBSYS_ID(h.nlmsg_type) != subsys) {
        err = EINVAL;
      } else {
        auto r = batch_msg(peer, msg, txn, &failed_policy);
        if (!r) {
          err = r.error().err;
          ext = std::move(r.error());
        }
      }
      if ((h.nlmsg_flags & NLM_F_ACK) || err) {
        acks.push_back({msg, err, std::move(ext), failed_policy});
        if (err) failure = true;
      }
      cur = cur.subspan(std::min<size_t>(NLMSG_ALIGN(h.nlmsg_len), cur.size()));
    }

    if (done && !failure && !replayed && !tables_valid(txn)) {
      // nf_tables_commit() -> nf_tables_validate() failed: -EAGAIN, replay with validation on.
      txn.abort();
      acks.clear();
      failure = done = false;
      replayed = true;
      txn.validate_each_rule = true;
      goto replay;
    }
    if (done && !failure) {
      auto first_msg = rest.size() >= NLMSG_HDRLEN
                           ? rest.first(std::min<size_t>(header_at(rest).nlmsg_len, rest.size()))
                           : begin_msg;
      commit(peer, txn, first_msg, mcast, out);
    } else {
      txn.abort();
    }
    for (auto& a : acks) out.push_back(make_ack(peer, a.msg, a.err, &a.ext, a.policy));
  }

  static bool tables_valid(Txn& txn) {
    auto& ts = txn.tables_to_validate;
    std::sort(ts.begin(), ts.end());
    ts.erase(std::unique(ts.begin(), ts.end()), ts.end());
    for (store::Table* t : ts)
      if (t->vis.next && !validate_table(*t)) return false;
    return true;
  }

  Result<void> batch_msg(const nfnl::Peer& peer, std::span<const uint8_t> msg, Txn& txn,
                         const NlaPolicy** failed_policy) {
    nlmsghdr h = header_at(msg);
    uint16_t type = NFNL_MSG_TYPE(h.nlmsg_type);
    const MsgHandler* mh = find_handler(type);
    if (!mh) return fail(EINVAL, "");
    // Kernel 6.18 parses batch messages liberally (unknown and output-only attributes are
    // ignored, lengths are only checked against minimums) but reports policy failures.
    auto nla = parse_attrs(msg.subspan(kMinLen), uint32_t(kMinLen), policy::for_msg(type), false,
                           failed_policy);
    if (!nla) return std::unexpected(nla.error());
    if (!mh->batch) return fail(EINVAL, "");
    Request req{msg, h, type, family_of(msg), &*nla, &peer};
    OpOrigin origin{peer.portid, h.nlmsg_seq, h.nlmsg_flags, req.family};
    BatchCtx ctx{txn, rs_, req, origin};
    return mh->batch(ctx);
  }

  // nf_tables_commit(): hook prepare, generation bump, notifications, NEWGEN.
  void commit(const nfnl::Peer& peer, Txn& txn, std::span<const uint8_t> first_msg,
              nfnl::Multicast& mcast, std::vector<nfnl::Message>& out) {
    if (txn.empty()) return;
    if (auto r = hook_->prepare(rs_); !r) {
      txn.abort();
      hook_->abort();
      out.push_back(make_ack(peer, first_msg, r.error().err, &r.error()));
      return;
    }
    while (++rs_.genid == 0) {
    }
    const uint32_t genid = rs_.genid;
    txn.commit([&](const Op& op) {
      nfnl::Message m = notification_for(op, genid);
      if (m.empty()) return;
      const bool echo = op.origin.nlflags & NLM_F_ECHO;
      if (echo) out.push_back(m);
      mcast.publish(NFNLGRP_NFTABLES, std::move(m), echo ? op.origin.portid : 0);
    });
    hook_->commit();
    nlmsghdr fh = header_at(first_msg);
    FillHdr gh{NFT_MSG_NEWGEN, 0, peer.portid, fh.nlmsg_seq, genid};
    nfnl::Message gen = fill_gen(gh, genid, uint32_t(peer.pid), peer.comm);
    const bool echo = fh.nlmsg_flags & NLM_F_ECHO;
    if (echo) out.push_back(gen);
    mcast.publish(NFNLGRP_NFTABLES, std::move(gen), echo ? peer.portid : 0);
  }

  // nft_rcv_nl_event() on NETLINK_URELEASE: the tables the closed socket owns are deleted with
  // everything in them (PERSIST ones stay behind as orphans, without their OWNER flag). The
  // kernel announces none of it and starts no new generation; the backend still has to let go
  // of their chains, so the deletion goes through the commit hook like a batch.
  void released(uint32_t portid) override {
    std::vector<store::Table*> victims;
    for (auto& t : rs_.tables) {
      if (!t->vis.cur || !(t->flags & NFT_TABLE_F_OWNER) || t->owner != portid) continue;
      if (t->flags & NFT_TABLE_F_PERSIST) {
        t->flags &= ~NFT_TABLE_F_OWNER;
        continue;
      }
      victims.push_back(t.get());
    }
    if (victims.empty()) return;
    Txn txn(rs_);
    nfnl::Peer owner;
    owner.portid = portid;
    Request req;
    req.peer = &owner;
    BatchCtx ctx{txn, rs_, req, OpOrigin{portid, 0, 0, 0}};
    for (store::Table* t : victims)
      if (auto r = flush_table(ctx, t); !r)
        log::warn("releasing port {}: table {}: {}", portid, t->name, r.error().describe());
    auto ready = hook_->prepare(rs_);
    txn.commit(nullptr);
    if (ready) {
      hook_->commit();
    } else {
      log::warn("releasing port {}: the backend refused the deletion: {}", portid,
                ready.error().describe());
      hook_->abort();
    }
  }

  store::Ruleset rs_;
  std::unique_ptr<CommitHook> hook_;
};

}  // namespace

std::unique_ptr<nfnl::NetlinkProtocol> make_nftables_protocol(std::unique_ptr<CommitHook> hook) {
  if (!hook) hook = std::make_unique<AcceptAllHook>();
  return std::make_unique<NftablesProtocol>(std::move(hook));
}

}  // namespace nfbpf::nftables
