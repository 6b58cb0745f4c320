#pragma once
// Test support: builds ip(6)t_replace buffers entry by entry, laid out as libiptc lays them out
// (built-in chains with their policies, user chains headed by ERROR entries and closed by RETURN,
// the final ERROR entry), with helpers to corrupt them.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "nfnl-server/sockopt/xt_layout.h"

namespace nfbpf::nfnl::sockopt::testing {

inline std::vector<uint8_t> ext(const std::string& name, uint8_t revision,
                                const std::vector<uint8_t>& data, size_t data_size) {
  std::vector<uint8_t> out(sizeof(xt_entry_match) + xt_align(data_size), 0);
  store<uint16_t>(out.data(), static_cast<uint16_t>(out.size()));
  std::memcpy(out.data() + 2, name.data(), std::min<size_t>(name.size(), XT_EXTENSION_MAXNAMELEN));
  out[offsetof(xt_entry_match, u.user.revision)] = revision;
  std::memcpy(out.data() + sizeof(xt_entry_match), data.data(), std::min(data.size(), data_size));
  return out;
}

template <typename T>
std::vector<uint8_t> bytes_of(const T& v) {
  std::vector<uint8_t> out(sizeof(T));
  std::memcpy(out.data(), &v, sizeof(T));
  return out;
}

inline std::vector<uint8_t> standard_target(int verdict) {
  return ext(XT_STANDARD_TARGET, 0, bytes_of(verdict), sizeof(int));
}
inline std::vector<uint8_t> error_target(const std::string& name) {
  std::vector<uint8_t> data(XT_FUNCTION_MAXNAMELEN, 0);
  std::memcpy(data.data(), name.data(), std::min<size_t>(name.size(), XT_FUNCTION_MAXNAMELEN - 1));
  return ext(XT_ERROR_TARGET, 0, data, XT_FUNCTION_MAXNAMELEN);
}
inline int verdict_of(int nf_verdict) { return -nf_verdict - 1; }

template <typename F>
class BlobBuilder {
 public:
  using Ip = typename F::Ip;
  // Appends an entry; returns its offset.
  uint32_t entry(const Ip& ip, const std::vector<std::vector<uint8_t>>& matches,
                 const std::vector<uint8_t>& target) {
    const uint32_t off = static_cast<uint32_t>(blob_.size());
    size_t match_bytes = 0;
    for (const auto& m : matches) match_bytes += m.size();
    const size_t target_offset = sizeof(typename F::Entry) + match_bytes;
    blob_.resize(off + target_offset + target.size(), 0);
    std::memcpy(blob_.data() + off, &ip, sizeof(ip));
    store<uint16_t>(blob_.data() + off + offsetof(typename F::Entry, target_offset),
                    static_cast<uint16_t>(target_offset));
    store<uint16_t>(blob_.data() + off + offsetof(typename F::Entry, next_offset),
                    static_cast<uint16_t>(target_offset + target.size()));
    size_t pos = off + sizeof(typename F::Entry);
    for (const auto& m : matches) {
      std::memcpy(blob_.data() + pos, m.data(), m.size());
      pos += m.size();
    }
    std::memcpy(blob_.data() + pos, target.data(), target.size());
    offsets_.push_back(off);
    return off;
  }
  uint32_t policy(int nf_verdict) { return entry(Ip{}, {}, standard_target(verdict_of(nf_verdict))); }
  uint32_t chain_head(const std::string& name) { return entry(Ip{}, {}, error_target(name)); }
  // Sets the standard verdict (or jump offset) of the entry at `off`.
  void set_verdict(uint32_t off, int verdict) {
    const uint16_t target_offset =
        load<uint16_t>(blob_.data() + off + offsetof(typename F::Entry, target_offset));
    store<int>(blob_.data() + off + target_offset + sizeof(xt_entry_target), verdict);
  }
  uint32_t size() const { return static_cast<uint32_t>(blob_.size()); }
  uint32_t count() const { return static_cast<uint32_t>(offsets_.size()); }
  std::vector<uint8_t>& blob() { return blob_; }

 private:
  std::vector<uint8_t> blob_;
  std::vector<uint32_t> offsets_;
};

// struct ipt_replace without its flexible array member (so it can be a member itself).
struct ReplaceFields {
  char name[XT_TABLE_MAXNAMELEN];
  unsigned valid_hooks, num_entries, size;
  unsigned hook_entry[NF_INET_NUMHOOKS], underflow[NF_INET_NUMHOOKS];
  unsigned num_counters;
  xt_counters* counters;
};
static_assert(sizeof(ReplaceFields) == sizeof(ipt_replace) &&
              offsetof(ReplaceFields, counters) == offsetof(ipt_replace, counters));

// An ip(6)t_replace buffer (the two share a layout) followed by the entries.
struct ReplaceBuffer {
  ReplaceFields header{};
  std::vector<uint8_t> entries;
  std::vector<xt_counters> old_counters;  // where the handler writes the old counters
  long optlen_delta = 0;                  // setsockopt's optlen = bytes().size() + this

  // header.num_counters is the caller's; room for that many old counters (bounded: a huge
  // count is refused before anything is written).
  std::vector<uint8_t> bytes() {
    old_counters.assign(std::min<size_t>(header.num_counters, 4096), xt_counters{});
    header.counters = old_counters.data();
    std::vector<uint8_t> out(sizeof(header) + entries.size());
    std::memcpy(out.data(), &header, sizeof(header));
    std::memcpy(out.data() + sizeof(header), entries.data(), entries.size());
    return out;
  }
};

}  // namespace nfbpf::nfnl::sockopt::testing
