#pragma once
// Set elements with a timeout leave the BPF maps when it runs out. The kernel stops matching an
// element at its deadline (nft_set_elem_expired on lookup) and its GC frees it later; here a
// thread of the daemon deletes the element's map entries at the deadline, so a packet may still
// match it for the thread's wake-up latency (about a millisecond). The store hides expired
// elements from listings by itself (get_msgs.cpp) and leaves them out of later compiles
// (store_to_ir.cpp).
//
// OffloadHook replaces the whole schedule after each commit. Entries hold their own duplicate of
// the map's fd, so a map the daemon drops meanwhile stays valid for them (deleting from it is
// then harmless).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

#include "common/fd.h"
#include "translate/ir/ir.h"

namespace nfbpf::offload {

class ElementExpiry {
 public:
  struct Due {
    uint64_t at_ms = 0;  // store::now_ms() clock
    std::shared_ptr<const Fd> map;
    ir::Bytes key;
  };

  ElementExpiry() = default;
  ~ElementExpiry();
  ElementExpiry(const ElementExpiry&) = delete;
  ElementExpiry& operator=(const ElementExpiry&) = delete;

  // The schedule from now on (the previous one is forgotten). Starts the thread the first time
  // there is something to expire.
  void replace(std::vector<Due> schedule);
  // Map entries deleted because their element expired (for tests and status).
  size_t removed() const { return removed_.load(); }

 private:
  void run(std::stop_token stop);

  std::mutex mu_;
  std::condition_variable_any cv_;
  std::multimap<uint64_t, Due> due_;
  std::atomic<size_t> removed_{0};
  std::jthread thread_;  // last: stopped and joined first
};

// A duplicate of `fd` (close-on-exec) for an ElementExpiry entry; null if dup fails.
std::shared_ptr<const Fd> share_fd(int fd);

}  // namespace nfbpf::offload
