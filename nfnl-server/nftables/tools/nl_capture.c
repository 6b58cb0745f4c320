// LD_PRELOAD capture of NETLINK_NETFILTER traffic: records every datagram a process sends on, and
// every record it receives from, a netfilter netlink socket, so that real nft <-> kernel sessions
// (run inside `unshare -n`) become replayable test vectors for the nfbpf nf_tables server.
//
// Output (append, one line per datagram) to $NFBPF_CAPTURE:  "<pid> S|R <hex bytes>\n", after a
// "#! comm NAME" line the first time a process records (the kernel reports the name in GETGEN).
// Build: cc -shared -fPIC -O2 -o nl_capture.so nl_capture.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int is_nfnl(int fd) {
  int v = 0;
  socklen_t l = sizeof(v);
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) < 0 || v != AF_NETLINK) return 0;
  l = sizeof(v);
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l) < 0 || v != NETLINK_NETFILTER) return 0;
  return 1;
}

// The first line a process writes names it ("#! comm NAME").
static void announce(FILE* f) {
  static int announced;
  if (announced) return;
  char comm[32] = "";
  FILE* c = fopen("/proc/self/comm", "r");
  if (c && fgets(comm, sizeof(comm), c)) {
    for (char* p = comm; *p; p++)
      if (*p == '\n') *p = 0;
    fprintf(f, "#! comm %s\n", comm);
  }
  if (c) fclose(c);
  announced = 1;
}

static void record(char dir, const struct iovec* iov, size_t n, size_t total) {
  const char* path = getenv("NFBPF_CAPTURE");
  if (!path) return;
  FILE* f = fopen(path, "a");
  if (!f) return;
  announce(f);
  fprintf(f, "%d %c ", (int)getpid(), dir);
  size_t left = total;
  for (size_t i = 0; i < n && left; i++) {
    size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
    for (size_t j = 0; j < k; j++) fprintf(f, "%02x", ((unsigned char*)iov[i].iov_base)[j]);
    left -= k;
  }
  fprintf(f, "\n");
  fclose(f);
}

// Extended acks are the client's choice (nft turns them on, iptables-nft does not): recorded as
// "#! ext_ack 1" so that the replay gives its requests the same socket option.
int setsockopt(int fd, int level, int name, const void* val, socklen_t len) {
  static int (*real)(int, int, int, const void*, socklen_t);
  if (!real) real = dlsym(RTLD_NEXT, "setsockopt");
  int r = real(fd, level, name, val, len);
  const char* path = getenv("NFBPF_CAPTURE");
  if (r == 0 && path && level == SOL_NETLINK && name == NETLINK_EXT_ACK && len >= sizeof(int) &&
      *(const int*)val && is_nfnl(fd)) {
    FILE* f = fopen(path, "a");
    if (f) {
      announce(f);
      fprintf(f, "#! ext_ack 1\n");
      fclose(f);
    }
  }
  return r;
}

ssize_t sendto(int fd, const void* buf, size_t len, int flags, const struct sockaddr* a, socklen_t al) {
  static ssize_t (*real)(int, const void*, size_t, int, const struct sockaddr*, socklen_t);
  if (!real) real = dlsym(RTLD_NEXT, "sendto");
  ssize_t r = real(fd, buf, len, flags, a, al);
  if (r > 0 && is_nfnl(fd)) {
    struct iovec v = {(void*)buf, (size_t)r};
    record('S', &v, 1, (size_t)r);
  }
  return r;
}

ssize_t sendmsg(int fd, const struct msghdr* m, int flags) {
  static ssize_t (*real)(int, const struct msghdr*, int);
  if (!real) real = dlsym(RTLD_NEXT, "sendmsg");
  ssize_t r = real(fd, m, flags);
  if (r > 0 && is_nfnl(fd)) record('S', m->msg_iov, m->msg_iovlen, (size_t)r);
  return r;
}

ssize_t recvmsg(int fd, struct msghdr* m, int flags) {
  static ssize_t (*real)(int, struct msghdr*, int);
  if (!real) real = dlsym(RTLD_NEXT, "recvmsg");
  ssize_t r = real(fd, m, flags);
  if (r > 0 && !(flags & MSG_PEEK) && is_nfnl(fd)) record('R', m->msg_iov, m->msg_iovlen, (size_t)r);
  return r;
}

ssize_t recvfrom(int fd, void* buf, size_t len, int flags, struct sockaddr* a, socklen_t* al) {
  static ssize_t (*real)(int, void*, size_t, int, struct sockaddr*, socklen_t*);
  if (!real) real = dlsym(RTLD_NEXT, "recvfrom");
  ssize_t r = real(fd, buf, len, flags, a, al);
  if (r > 0 && !(flags & MSG_PEEK) && is_nfnl(fd)) {
    struct iovec v = {buf, (size_t)r};
    record('R', &v, 1, (size_t)r);
  }
  return r;
}
