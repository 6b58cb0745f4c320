#include "nfnl-server/offload/hook_order.h"

#include <linux/netfilter.h>

#include <algorithm>
#include <compare>

#include <fmt/format.h>

namespace nfbpf::offload {

namespace {

enum class Kind { kNetfilter, kIngress, kEgress };

// Where a base chain's hook sits in the kernel. Netfilter points include the priority (chains at
// other priorities are ordered by it on both sides); device points do not.
struct Point {
  Kind kind = Kind::kNetfilter;
  uint32_t pf = 0;
  uint32_t hooknum = 0;
  int32_t priority = 0;
  std::string device;
  friend auto operator<=>(const Point&, const Point&) = default;
};

std::vector<Point> points_of(const BaseChainHook& c) {
  std::vector<Point> out;
  const auto devices = [&](Kind k) {
    for (const std::string& d : c.devices) out.push_back(Point{.kind = k, .device = d});
  };
  switch (c.family) {
    case NFPROTO_IPV4:
    case NFPROTO_IPV6:
      if (c.hooknum < NF_INET_INGRESS) out.push_back(Point{.pf = c.family, .hooknum = c.hooknum, .priority = c.priority});
      break;
    case NFPROTO_INET:
      if (c.hooknum == NF_INET_INGRESS) {
        devices(Kind::kIngress);
      } else {
        for (uint32_t pf : {NFPROTO_IPV4, NFPROTO_IPV6})
          out.push_back(Point{.pf = pf, .hooknum = c.hooknum, .priority = c.priority});
      }
      break;
    case NFPROTO_NETDEV:
      if (c.hooknum == NF_NETDEV_INGRESS) devices(Kind::kIngress);
      if (c.hooknum == NF_NETDEV_EGRESS) devices(Kind::kEgress);
      break;
    default: break;  // arp, bridge: no BPF chain shares their hooks
  }
  return out;
}

const char* inet_hook_name(uint32_t h) {
  switch (h) {
    case NF_INET_PRE_ROUTING: return "prerouting";
    case NF_INET_LOCAL_IN: return "input";
    case NF_INET_FORWARD: return "forward";
    case NF_INET_LOCAL_OUT: return "output";
    case NF_INET_POST_ROUTING: return "postrouting";
    default: return "?";
  }
}

// At the same hook and priority, or on the same device: whether the kernel runs `a` before `b`.
bool kernel_runs_first(const BaseChainHook& a, const BaseChainHook& b) {
  if (a.priority != b.priority) return a.priority < b.priority;
  return a.created > b.created;  // registered later: first (nf_hook_entries_grow)
}

// Why BPF-placed `b` cannot keep the kernel's order next to kernel-placed `k` at `p` (empty: it can).
std::string conflict(const BaseChainHook& b, const BaseChainHook& k, const Point& p) {
  if (k.leaving) {
    if (p.kind != Kind::kNetfilter) return {};  // TCX does not share the kernel's list
    return fmt::format("kernel chain {} this batch deletes holds {} priority {} until the kernel's part of the "
                       "batch, after BPF attaches (a BPF link cannot join it: EBUSY)",
                       k.where, inet_hook_name(p.hooknum), p.priority);
  }
  switch (p.kind) {
    case Kind::kNetfilter:
      // The link would be registered before k (or refused: EBUSY), so k would run first.
      if (k.created >= b.created) return {};
      return fmt::format("created after kernel chain {} at {} priority {}: the kernel runs the later-created "
                         "chain first, which only the kernel can order",
                         k.where, inet_hook_name(p.hooknum), p.priority);
    case Kind::kIngress:
      if (!kernel_runs_first(k, b)) return {};
      return fmt::format("kernel chain {} runs before it at ingress of {} (priority {} vs {}), and BPF (TCX) runs "
                         "before every kernel ingress chain",
                         k.where, p.device, k.priority, b.priority);
    case Kind::kEgress:
      if (!kernel_runs_first(b, k)) return {};
      return fmt::format("it runs before kernel chain {} at egress of {} (priority {} vs {}), and BPF (TCX) runs "
                         "after every kernel egress chain",
                         k.where, p.device, b.priority, k.priority);
  }
  return {};
}

}  // namespace

std::map<size_t, std::string> kernel_for_hook_order(const std::vector<BaseChainHook>& chains) {
  std::vector<std::vector<Point>> points;
  std::vector<bool> kernel;
  for (const BaseChainHook& c : chains) {
    points.push_back(points_of(c));
    kernel.push_back(c.kernel);
  }
  std::map<size_t, std::string> out;
  // Each pass moves at least one chain or ends: at most one pass per chain.
  for (bool moved = true; moved;) {
    moved = false;
    for (size_t b = 0; b < chains.size(); ++b) {
      if (kernel[b]) continue;
      for (size_t k = 0; k < chains.size() && !kernel[b]; ++k) {
        if (!kernel[k] || k == b) continue;
        for (const Point& p : points[b]) {
          if (std::find(points[k].begin(), points[k].end(), p) == points[k].end()) continue;
          std::string why = conflict(chains[b], chains[k], p);
          if (why.empty()) continue;
          out[b] = std::move(why);
          kernel[b] = true;
          moved = true;
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace nfbpf::offload
