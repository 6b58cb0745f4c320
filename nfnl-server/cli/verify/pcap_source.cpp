#include "nfnl-server/cli/verify/pcap_source.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "nfnl-server/cli/verify/scratch_net.h"

namespace nfbpf::verify {

namespace {

// L3 of a captured record by link type; ethertype or 0 when it is not IP.
std::optional<std::pair<size_t, uint16_t>> l3_of(int linktype, const uint8_t* d, size_t n) {
  auto version_type = [&](size_t off) -> uint16_t {
    if (n <= off) return 0;
    const int v = d[off] >> 4;
    return v == 4 ? 0x0800 : v == 6 ? 0x86dd : 0;
  };
  switch (linktype) {
    case DLT_EN10MB: {
      if (n < 14) return std::nullopt;
      size_t off = 12;
      uint16_t et = static_cast<uint16_t>((d[off] << 8) | d[off + 1]);
      while ((et == 0x8100 || et == 0x88a8) && n >= off + 6) {  // VLAN tags: the inner packet
        off += 4;
        et = static_cast<uint16_t>((d[off] << 8) | d[off + 1]);
      }
      return std::make_pair(off + 2, et);
    }
    case DLT_RAW:
    case 228:  // LINKTYPE_IPV4
    case 229:  // LINKTYPE_IPV6
      return std::make_pair(size_t{0}, version_type(0));
    case DLT_LINUX_SLL:
      if (n < 16) return std::nullopt;
      return std::make_pair(size_t{16}, static_cast<uint16_t>((d[14] << 8) | d[15]));
    case 276:  // LINKTYPE_LINUX_SLL2
      if (n < 20) return std::nullopt;
      return std::make_pair(size_t{20}, static_cast<uint16_t>((d[0] << 8) | d[1]));
    case DLT_NULL:
    case DLT_LOOP:
      return std::make_pair(size_t{4}, version_type(4));
    default:
      return std::nullopt;
  }
}

}  // namespace

Result<PcapSource> PcapSource::open(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE] = {};
  PcapSource s;
  s.p_.reset(pcap_open_offline(path.c_str(), err));
  if (!s.p_) return failf(EINVAL, "{}: {}", path, err);
  s.linktype_ = pcap_datalink(s.p_.get());
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) s.size_ = st.st_size;
  static const int kSupported[] = {DLT_EN10MB, DLT_RAW, 228, 229, DLT_LINUX_SLL, 276, DLT_NULL, DLT_LOOP};
  if (std::find(std::begin(kSupported), std::end(kSupported), s.linktype_) == std::end(kSupported))
    return failf(EOPNOTSUPP, "{}: link type {} ({}) is not supported (Ethernet, raw IP, Linux cooked, loopback are)",
                 path, s.linktype_, pcap_datalink_val_to_name(s.linktype_) ? pcap_datalink_val_to_name(s.linktype_) : "?");
  return s;
}

long PcapSource::position() const {
  FILE* f = pcap_file(p_.get());
  return f ? ftell(f) : 0;
}

Result<std::optional<std::vector<uint8_t>>> PcapSource::next() {
  for (;;) {
    pcap_pkthdr* h = nullptr;
    const u_char* d = nullptr;
    const int r = pcap_next_ex(p_.get(), &h, &d);
    if (r == PCAP_ERROR_BREAK) return std::optional<std::vector<uint8_t>>{};
    if (r < 0) return failf(EIO, "pcap: {}", pcap_geterr(p_.get()));
    ++read_;
    const size_t n = h->caplen;
    auto l3 = l3_of(linktype_, d, n);
    if (!l3 || (l3->second != 0x0800 && l3->second != 0x86dd) || l3->first >= n || n - l3->first + 14 > 1514 ||
        h->caplen < h->len) {  // a truncated capture cannot be replayed as it was
      ++skipped_;
      continue;
    }
    std::vector<uint8_t> f(14);
    std::memcpy(f.data(), kRecvMac, 6);
    std::memcpy(f.data() + 6, kSenderMac, 6);
    f[12] = static_cast<uint8_t>(l3->second >> 8);
    f[13] = static_cast<uint8_t>(l3->second);
    f.insert(f.end(), d + l3->first, d + n);
    return std::optional<std::vector<uint8_t>>(std::move(f));
  }
}

std::string describe_frame(const std::vector<uint8_t>& f) {
  if (f.size() < 14 + 20) return fmt::format("{} bytes", f.size());
  const uint8_t* ip = f.data() + 14;
  const size_t n = f.size() - 14;
  char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
  uint8_t proto = 0;
  size_t l4 = 0;
  std::string fam;
  bool frag = false;
  if ((ip[0] >> 4) == 4) {
    inet_ntop(AF_INET, ip + 12, a, sizeof a);
    inet_ntop(AF_INET, ip + 16, b, sizeof b);
    proto = ip[9];
    l4 = (ip[0] & 0xf) * 4u;
    frag = ((ip[6] & 0x1f) << 8 | ip[7]) != 0;
    fam = "ipv4";
  } else if ((ip[0] >> 4) == 6 && n >= 40) {
    inet_ntop(AF_INET6, ip + 8, a, sizeof a);
    inet_ntop(AF_INET6, ip + 24, b, sizeof b);
    proto = ip[6];
    l4 = 40;
    fam = "ipv6";
  } else {
    return fmt::format("{} bytes", f.size());
  }
  const char* names[256] = {};
  names[1] = "icmp"; names[6] = "tcp"; names[17] = "udp"; names[58] = "icmpv6"; names[0] = "hop-by-hop";
  std::string p = names[proto] ? names[proto] : fmt::format("proto {}", proto);
  std::string s;
  if ((proto == 6 || proto == 17) && !frag && n >= l4 + 4) {
    const unsigned sp = (ip[l4] << 8) | ip[l4 + 1], dp = (ip[l4 + 2] << 8) | ip[l4 + 3];
    s = fmt::format("{} {} {}:{} > {}:{}", fam, p, a, sp, b, dp);
    if (proto == 6 && n >= l4 + 14) {
      std::string fl;
      const uint8_t x = ip[l4 + 13];
      const char* letters = "FSRPAUEC";
      for (int i = 0; i < 8; ++i)
        if (x & (1 << i)) fl += letters[i];
      s += " flags " + (fl.empty() ? std::string("none") : fl);
    }
  } else if ((proto == 1 || proto == 58) && n >= l4 + 2) {
    s = fmt::format("{} {} {} > {} type {} code {}", fam, p, a, b, ip[l4], ip[l4 + 1]);
  } else {
    s = fmt::format("{} {} {} > {}", fam, p, a, b);
  }
  if (frag) s += " fragment";
  return s + fmt::format(" len {}", n);
}

}  // namespace nfbpf::verify
