#include "nfnl-server/cli/verify/replay.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "nfnl-server/cli/verify/pcap_source.h"

namespace nfbpf::verify {

namespace {

using json = nlohmann::json;

Counters delta(const Counters& after, const Counters& before) {
  Counters d;
  for (const auto& [k, v] : after) {
    auto b = before.find(k);
    const auto base = b == before.end() ? std::pair<uint64_t, uint64_t>{0, 0} : b->second;
    d[k] = {v.first - base.first, v.second - base.second};
  }
  return d;
}


class Runner {
 public:
  Runner(ScratchNet& net, Prepared& prep, const VerifyOptions& opt) : net_(net), prep_(prep), opt_(opt) {}

  // From now on packets are sent from the sides' own stacks (output hooks) instead of by the peer.
  void send_locally(bool on) { local_ = on; }
  uint64_t unsendable() const { return unsendable_; }

  Result<void> start() {
    if (prep_.fresh_counters) return {};  // every counter is 0: nothing to read
    for (Side s : {Side::kKernel, Side::kNfbpf}) {
      auto c = prep_.counters(s);
      if (!c) return std::unexpected(std::move(c).error());
      last_[idx(s)] = std::move(*c);
    }
    return {};
  }

  // Sends `chunk` to both sides; compares; names differing packets.
  Result<void> run_chunk(const std::vector<Packet>& chunk, ReplayResult& res) {
    std::array<Counters, 2> d;
    NFBPF_TRYV(send_and_read(chunk, d));
    for (Side s : {Side::kKernel, Side::kNfbpf})
      for (const auto& [k, v] : d[idx(s)]) {
        auto& t = (s == Side::kKernel ? res.kernel : res.nfbpf)[k];
        t.first += v.first;
        t.second += v.second;
      }
    if (d[0] == d[1]) return {};
    ++res.differing_chunks;
    if (res.mismatches.size() >= opt_.max_named) return {};
    for (const auto& p : chunk) {
      if (res.mismatches.size() >= opt_.max_named || interrupted()) break;
      std::array<Counters, 2> one;
      NFBPF_TRYV(send_and_read({p}, one));
      if (one[0] != one[1]) res.mismatches.push_back(describe(p, one));
    }
    return {};
  }

 private:
  ScratchNet& net_;
  Prepared& prep_;
  const VerifyOptions& opt_;
  std::array<Counters, 2> last_;
  uint64_t sentinels_ = 0;
  bool local_ = false;
  uint64_t unsendable_ = 0;

  static size_t idx(Side s) { return s == Side::kKernel ? 0 : 1; }

  Result<void> send_and_read(const std::vector<Packet>& pkts, std::array<Counters, 2>& d) {
    for (const auto& p : pkts)
      for (Side s : {Side::kKernel, Side::kNfbpf}) {
        if (!local_) {
          NFBPF_TRYV(net_.send(s, p.frame));
          continue;
        }
        auto sent = net_.send_local(s, p.frame);
        if (!sent) return std::unexpected(std::move(sent).error());
        if (!*sent && s == Side::kKernel) ++unsendable_;
      }
    if (prep_.sentinel) {
      ++sentinels_;
      for (Side s : {Side::kKernel, Side::kNfbpf}) NFBPF_TRYV(net_.send(s, prep_.sentinel_packet));
    }
    for (Side s : {Side::kKernel, Side::kNfbpf}) {
      auto c = settle(s);
      if (!c) return std::unexpected(std::move(c).error());
      d[idx(s)] = delta(*c, last_[idx(s)]);
      d[idx(s)].erase(prep_.sentinel_key);
      last_[idx(s)] = std::move(*c);
    }
    return {};
  }

  // Counters once everything sent went through: the sentinel counted (or, without a sentinel
  // table, two reads in a row equal), within 3 s.
  Result<Counters> settle(Side s) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    std::optional<Counters> prev;
    if (!prep_.sentinel) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (;;) {
      if (interrupted()) return failf(EINTR, "interrupted");
      auto c = prep_.counters(s);
      if (!c) return std::unexpected(std::move(c).error());
      if (prep_.sentinel) {
        auto it = c->find(prep_.sentinel_key);
        if (it != c->end() && it->second.first >= sentinels_) return c;
      } else if (prev && *prev == *c) {
        return c;
      }
      if (std::chrono::steady_clock::now() > deadline)
        return failf(ETIMEDOUT, "the {} side did not count the packets sent within 3 s",
                     s == Side::kKernel ? "kernel" : "nfbpf");
      prev = std::move(*c);
      std::this_thread::sleep_for(std::chrono::milliseconds(prep_.sentinel ? 2 : 20));
    }
  }

  // The rules that counted the packet (in listing order) and what became of it on one side.
  json side_view(const Counters& d) const {
    json matched = json::array();
    std::string decided;
    for (const auto& r : prep_.rules) {
      auto it = d.find(r.key);
      if (it == d.end() || it->second.first == 0) continue;
      matched.push_back(r.key + ": " + r.text);
      // The last matching rule with a verdict is the one that decided (a rule that only counts,
      // logs or marks lets the packet go on).
      for (const char* v : {" accept", " drop", " reject", " jump ", " goto ", " return", " dnat ", " snat ",
                            " masquerade", " redirect", " queue", "-j "})
        if ((" " + r.text).find(v) != std::string::npos) decided = r.key + ": " + r.text;
    }
    json v = {{"matched", matched}};
    if (prep_.sentinel) {
      auto counted = [&d](const std::string& k) { return d.contains(k) && d.at(k).first > 0; };
      // A packet the host sends never reaches prerouting: it "arrived" at output.
      const bool arrived = local_ || counted(kArrivalKey);
      const bool accepted = counted(kAcceptedKey) || counted(kForwardedKey) || counted(kOutputAcceptedKey);
      v["verdict"] = !arrived ? "not seen" : accepted ? "accept" : "drop";
      v["decided_by"] = !decided.empty() ? decided : accepted ? "no rule (chain policies)" : "a chain policy";
    } else {
      v["decided_by"] = decided.empty() ? "no rule (chain policies)" : decided;
    }
    json counters = json::object();
    for (const auto& [k, c] : d)
      if (c.first || c.second) counters[k] = {c.first, c.second};
    v["counters"] = counters;
    return v;
  }

  json describe(const Packet& p, const std::array<Counters, 2>& d) const {
    std::string hex;
    for (uint8_t b : p.frame) hex += fmt::format("{:02x}", b);
    json m = {{"source", p.source}, {"packet", describe_frame(p.frame)}, {"frame", hex},
              {"kernel", side_view(d[0])}, {"nfbpf", side_view(d[1])}};
    if (p.expect_match) m["evaluator_expects_match"] = *p.expect_match;
    return m;
  }
};

void progress(const VerifyOptions& opt, const char* what, uint64_t n, long pos, long size) {
  if (!opt.progress) return;
  if (size > 0)
    fmt::print(stderr, "\r  {}: {} packets sent ({:.0f}%)   ", what, n, 100.0 * static_cast<double>(pos) / static_cast<double>(size));
  else
    fmt::print(stderr, "\r  {}: {} packets sent   ", what, n);
}

}  // namespace

namespace {

// Every packet once, on the current path; `suffix` marks the packets' sources with the path.
Result<void> one_pass(Runner& run, Prepared& prep, const VerifyOptions& opt, const std::string& suffix, ReplayResult& res) {
  std::vector<Packet> chunk;
  auto flush = [&]() -> Result<void> {
    if (chunk.empty()) return {};
    auto r = run.run_chunk(chunk, res);
    chunk.clear();
    return r;
  };
  uint64_t n = 0;
  for (auto& p : prep.probes) {
    chunk.push_back(p);
    chunk.back().source += suffix;
    ++res.probes;
    ++n;
    if (chunk.size() >= opt.chunk) {
      NFBPF_TRYV(flush());
      progress(opt, "boundary probes", n, 0, 0);
    }
  }
  for (auto& p : generic_packets(prep.realistic)) {
    chunk.push_back(std::move(p));
    chunk.back().source += suffix;
    ++res.generic;
  }
  NFBPF_TRYV(flush());
  if (opt.pcap_path.empty()) return {};
  auto src = PcapSource::open(opt.pcap_path);
  if (!src) return std::unexpected(std::move(src).error());
  uint64_t replayed = 0;
  for (;;) {
    if (interrupted()) return failf(EINTR, "interrupted");
    if (replayed >= opt.max_packets) {
      res.pcap_truncated = true;
      break;
    }
    auto f = src->next();
    if (!f) return std::unexpected(std::move(f).error());
    if (!*f) break;
    ++replayed;
    make_realistic(**f);  // checksums a sender's offload left blank are filled in
    chunk.push_back({std::move(**f), fmt::format("pcap record #{}{}", src->read(), suffix), std::nullopt});
    if (chunk.size() >= opt.chunk) {
      NFBPF_TRYV(flush());
      // Of the file, or of --max-packets when that ends the replay first.
      const double of_file = src->file_size() > 0 ? static_cast<double>(src->position()) / static_cast<double>(src->file_size()) : 0;
      const double of_cap = static_cast<double>(replayed) / static_cast<double>(opt.max_packets);
      progress(opt, "capture", replayed, static_cast<long>(1000 * std::max(of_file, of_cap)), 1000);
    }
  }
  NFBPF_TRYV(flush());
  res.pcap += replayed;
  res.pcap_read += src->read();
  res.pcap_skipped += src->skipped();
  return {};
}

}  // namespace

Result<ReplayResult> replay(ScratchNet& net, Prepared& prep, const VerifyOptions& opt) {
  ReplayResult res;
  Runner run(net, prep, opt);
  NFBPF_TRYV(run.start());
  NFBPF_TRYV(one_pass(run, prep, opt, "", res));
  res.paths.push_back("local");
  if (prep.forward_path) {
    // Forward and postrouting chains: everything again, routed through the box.
    NFBPF_TRYV(net.set_path(ScratchNet::Path::kForward));
    auto r = one_pass(run, prep, opt, " (forwarded)", res);
    (void)net.set_path(ScratchNet::Path::kLocal);
    NFBPF_TRYV(r);
    res.paths.push_back("forward");
  }
  if (prep.output_path) {
    // Output chains: everything again, sent by each side's own stack (output, postrouting).
    run.send_locally(true);
    NFBPF_TRYV(one_pass(run, prep, opt, " (sent by the host)", res));
    run.send_locally(false);
    res.paths.push_back("output");
    res.local_unsendable = run.unsendable();
  }
  if (opt.progress) fmt::print(stderr, "\r{:60}\r", "");
  return res;
}

}  // namespace nfbpf::verify
