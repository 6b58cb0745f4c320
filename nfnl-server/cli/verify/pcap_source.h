#pragma once
// Packets of a capture file, streamed (libpcap, one packet in memory at a time) and turned into
// Ethernet frames for p1: Ethernet captures keep their payload with the MACs rewritten to the
// receiver's; raw IP, Linux cooked (SLL, SLL2) and BSD loopback captures get an Ethernet header.
// Non-IP packets are skipped (counted); so are frames beyond 1514 bytes (a veth's MTU).

#include <pcap/pcap.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace nfbpf::verify {

class PcapSource {
 public:
  static Result<PcapSource> open(const std::string& path);
  // The next usable frame, nullopt at the end. Errors: a damaged file.
  Result<std::optional<std::vector<uint8_t>>> next();
  uint64_t read() const { return read_; }        // records read so far
  uint64_t skipped() const { return skipped_; }  // of which not sendable (non-IP, too big)
  long file_size() const { return size_; }
  long position() const;                         // bytes into the file (progress)

 private:
  struct Closer { void operator()(pcap_t* p) const { pcap_close(p); } };
  std::unique_ptr<pcap_t, Closer> p_;
  int linktype_ = 0;
  uint64_t read_ = 0, skipped_ = 0;
  long size_ = 0;
};

// One line for a frame: "ipv4 tcp 192.0.2.1:40000 > 198.51.100.2:22 flags S len 60".
std::string describe_frame(const std::vector<uint8_t>& frame);

}  // namespace nfbpf::verify
