// nfbpf_udp_echo_probe ADDRESS PORT COUNT [SIZE]: traffic for the offload root tests, inside the
// caller's network namespace. An echo socket is bound to ADDRESS:PORT; a client socket sends COUNT
// datagrams of SIZE bytes (default 32) to it, one at a time; the echo side answers each one it
// receives and the client counts the answers. Prints "sent N received R echoed E" (received by the
// echo side, echoed back to the client). Each wait is bounded (150 ms), so a filtered path costs
// at most COUNT * 0.3 s. The answers make conntrack see both directions (ESTABLISHED replies).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

bool wait_readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s ADDRESS PORT COUNT [SIZE]\n", argv[0]);
    return 2;
  }
  const int count = std::atoi(argv[3]);
  const size_t size = argc > 4 ? static_cast<size_t>(std::atoi(argv[4])) : 32;
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  if (auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss); ::inet_pton(AF_INET6, argv[1], &a6->sin6_addr) == 1) {
    family = AF_INET6;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
    len = sizeof(*a6);
  } else if (auto* a4 = reinterpret_cast<sockaddr_in*>(&ss); ::inet_pton(AF_INET, argv[1], &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
    len = sizeof(*a4);
  } else {
    std::fprintf(stderr, "bad address %s\n", argv[1]);
    return 2;
  }
  const int echo = ::socket(family, SOCK_DGRAM, 0);
  const int client = ::socket(family, SOCK_DGRAM, 0);
  if (echo < 0 || client < 0 || ::bind(echo, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      ::connect(client, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    std::perror("socket setup");
    return 1;
  }
  std::vector<char> buf(size > 64 ? size : 64, 'x');
  int received = 0, echoed = 0;
  for (int i = 0; i < count; ++i) {
    if (::send(client, buf.data(), size, 0) < 0) continue;  // e.g. EPERM when OUTPUT drops it
    if (wait_readable(echo, 150)) {
      sockaddr_storage from{};
      socklen_t flen = sizeof(from);
      const ssize_t n = ::recvfrom(echo, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n >= 0) {
        ++received;
        ::sendto(echo, buf.data(), static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), flen);
      }
    }
    if (wait_readable(client, 150) && ::recv(client, buf.data(), buf.size(), 0) >= 0) ++echoed;
  }
  std::printf("sent %d received %d echoed %d\n", count, received, echoed);
  ::close(echo);
  ::close(client);
  return 0;
}
