#pragma once
// Test helper: nf_tables batches built with libnftnl the way nft builds them, covering what the
// offload tests need beyond nftables/testing's Batch (policies, devices, counters, reject, deletes).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nfnl-server/netlink/endpoint.h"

namespace nfbpf::offload::testing {

using Bytes = std::vector<uint8_t>;

struct RuleSpec {
  std::optional<uint32_t> saddr_be;  // ip saddr == X (network header offset 12)
  bool counter = false;              // counter (after the match)
  std::optional<uint64_t> quota;     // quota N bytes (after the counter)
  bool reject = false;               // reject (an expression the translator refuses)
  std::optional<int> verdict;        // NF_ACCEPT / NF_DROP / NFT_JUMP / NFT_GOTO; none: continue
  std::string target;                // jump/goto target
};

class NftBatch {
 public:
  explicit NftBatch(uint32_t seq = 1);
  NftBatch& table(uint8_t family, const std::string& name);
  NftBatch& del_table(uint8_t family, const std::string& name);
  NftBatch& base_chain(uint8_t family, const std::string& table, const std::string& name, uint32_t hooknum,
                       int32_t prio, uint32_t policy = 1 /* NF_ACCEPT */, const std::string& type = "filter",
                       const std::vector<std::string>& devices = {});
  NftBatch& chain(uint8_t family, const std::string& table, const std::string& name);
  NftBatch& rule(uint8_t family, const std::string& table, const std::string& chain, const RuleSpec& r);
  NftBatch& del_rule(uint8_t family, const std::string& table, const std::string& chain, uint64_t handle);
  Bytes done();

 private:
  char* reserve(size_t n);
  void commit_msg();
  Bytes buf_;
  size_t off_ = 0;
  uint32_t seq_;
};

// The first NLMSG_ERROR's errno (positive) among replies, or 0 when none failed.
int first_error(const std::vector<nfnl::Message>& replies);

}  // namespace nfbpf::offload::testing
