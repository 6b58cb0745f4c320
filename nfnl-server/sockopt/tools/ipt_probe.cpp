// nfbpf_ipt_probe [-6] TABLE...: prints what GET_INFO and GET_ENTRIES answer for each table, the
// entries as hex (read into a zero-filled buffer), so that the kernel's answers and nfbpfd's
// (run it under nfbpf-run) can be compared byte for byte. Prints "TABLE: error ..." on failure.

#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  int family = AF_INET;
  int first = 1;
  if (argc > 1 && std::strcmp(argv[1], "-6") == 0) {
    family = AF_INET6;
    first = 2;
  }
  if (first >= argc) {
    std::fprintf(stderr, "usage: nfbpf_ipt_probe [-6] TABLE...\n");
    return 2;
  }
  const int level = family == AF_INET6 ? SOL_IPV6 : SOL_IP;
  const int fd = ::socket(family, SOCK_RAW, IPPROTO_RAW);
  if (fd < 0) {
    std::perror("socket");
    return 1;
  }
  for (int i = first; i < argc; ++i) {
    ipt_getinfo info{};
    std::strncpy(info.name, argv[i], sizeof(info.name) - 1);
    socklen_t len = sizeof(info);
    if (::getsockopt(fd, level, IPT_SO_GET_INFO, &info, &len) != 0) {
      std::printf("%s: GET_INFO error %s\n", argv[i], std::strerror(errno));
      continue;
    }
    std::printf("%s: valid_hooks 0x%x entries %u size %u\n", info.name, info.valid_hooks,
                info.num_entries, info.size);
    for (int h = 0; h < NF_INET_NUMHOOKS; ++h) {
      std::printf("  hook %d entry %d underflow %d\n", h, static_cast<int>(info.hook_entry[h]),
                  static_cast<int>(info.underflow[h]));
    }
    std::vector<unsigned char> buf(sizeof(ipt_get_entries) + info.size, 0);
    ipt_get_entries get{};
    std::strncpy(get.name, argv[i], sizeof(get.name) - 1);
    get.size = info.size;
    std::memcpy(buf.data(), &get, sizeof(get));
    len = static_cast<socklen_t>(buf.size());
    if (::getsockopt(fd, level, IPT_SO_GET_ENTRIES, buf.data(), &len) != 0) {
      std::printf("%s: GET_ENTRIES error %s\n", argv[i], std::strerror(errno));
      continue;
    }
    for (size_t off = sizeof(ipt_get_entries); off < buf.size(); off += 16) {
      std::printf("  %04zx:", off - sizeof(ipt_get_entries));
      for (size_t j = off; j < off + 16 && j < buf.size(); ++j) std::printf(" %02x", buf[j]);
      std::printf("\n");
    }
  }
  ::close(fd);
  return 0;
}
