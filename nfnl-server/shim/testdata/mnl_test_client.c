/* A small libmnl client that uses its netfilter socket the way nft does (non-blocking socket,
 * mnl_socket_sendto, select() with a zero timeout, mnl_socket_recvfrom + mnl_cb_run), run under
 * libnfbpf-shim.so by shim_test.cpp against a daemon with the fake protocol
 * (daemon/testing/fake_protocol.h). Exit status 0 means the scenario held; messages on stderr. */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/capability.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kEcho = 0x100, kDump = 0x101, kPublish = 0x102, kSlowEcho = 0x104, kSlowSilent = 0x105 };

struct stats {
  unsigned messages;
  unsigned long bytes;
};

static int count_cb(const struct nlmsghdr *nlh, void *data) {
  struct stats *st = data;
  st->messages++;
  st->bytes += nlh->nlmsg_len;
  return MNL_CB_OK;
}

static void drop_cap_net_admin(void) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) != 0) { perror("capget"); exit(10); }
  data[0].effective &= ~(1u << CAP_NET_ADMIN);
  data[0].permitted &= ~(1u << CAP_NET_ADMIN);
  if (syscall(SYS_capset, &hdr, data) != 0) { perror("capset"); exit(10); }
}

static struct mnl_socket *open_bound(void) {
  struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
  if (!nl) { perror("mnl_socket_open"); exit(11); }
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) { perror("mnl_socket_bind"); exit(12); }
  /* nft's socket is non-blocking: replies must already be queued when sendto returns. */
  fcntl(mnl_socket_get_fd(nl), F_SETFL, O_NONBLOCK);
  return nl;
}

static size_t build(char *buf, uint16_t type, uint16_t flags, uint32_t seq, const uint32_t *words,
                    int nwords) {
  struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = seq;
  for (int i = 0; i < nwords; i++) {
    uint32_t *p = mnl_nlmsg_put_extra_header(nlh, sizeof(uint32_t));
    *p = words[i];
  }
  return nlh->nlmsg_len;
}

/* Sends, checks select(0) sees a reply at once, and runs every queued record through
 * mnl_cb_run. Returns mnl_cb_run's last result (MNL_CB_STOP for DONE/ack, -1 with errno). */
static int talk(struct mnl_socket *nl, const char *req, size_t len, uint32_t seq,
                struct stats *st) {
  static char buf[1 << 16];
  int fd = mnl_socket_get_fd(nl);
  if (mnl_socket_sendto(nl, req, len) < 0) return -1;
  fd_set r;
  FD_ZERO(&r);
  FD_SET(fd, &r);
  struct timeval tv = {0, 0};
  if (select(fd + 1, &r, NULL, NULL, &tv) != 1) {
    fprintf(stderr, "select(0) found nothing right after sendto\n");
    errno = ENODATA;
    return -1;
  }
  int ret = MNL_CB_OK;
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EAGAIN) return ret;
      return -1;
    }
    ret = mnl_cb_run(buf, n, seq, mnl_socket_get_portid(nl), count_cb, st);
    if (ret <= MNL_CB_STOP) return ret;
  }
}

/* A slow echo (the daemon takes 50 ms) with an ack: both must be queued when sendto returns. */
static int echo_once(struct mnl_socket *nl, uint32_t seq) {
  char req[256];
  struct stats st = {0, 0};
  size_t len = build(req, kSlowEcho, NLM_F_ACK, seq, NULL, 0);
  int ret = talk(nl, req, len, seq, &st);
  if (ret != MNL_CB_STOP || st.messages != 1) {
    fprintf(stderr, "echo: ret %d (%s), %u messages\n", ret, strerror(errno), st.messages);
    return 1;
  }
  return 0;
}

static int expect_eperm(struct mnl_socket *nl) {
  char req[256];
  struct stats st = {0, 0};
  size_t len = build(req, kEcho, 0, 5, NULL, 0);
  int ret = talk(nl, req, len, 5, &st);
  if (ret == -1 && errno == EPERM && st.messages == 0) return 0;
  fprintf(stderr, "expected EPERM, got ret %d errno %s\n", ret, strerror(errno));
  return 1;
}

/* nft's mnl_batch_talk(): the batch goes out with sendmsg() on mnl_socket_get_fd() (not through
 * libmnl), then select(0)/mnl_socket_recvfrom() until nothing is queued; ENOBUFS is skipped.
 * Returns the number of messages seen, or -1. */
static int raw_batch(struct mnl_socket *nl, uint16_t type, uint16_t flags, int count,
                     uint32_t first_seq) {
  static char batch[4096];
  size_t len = 0;
  for (int i = 0; i < count; i++)
    len += build(batch + len, type, flags, first_seq + (uint32_t)i, NULL, 0);
  const struct sockaddr_nl snl = {.nl_family = AF_NETLINK};
  struct iovec iov = {batch, len};
  struct msghdr msg = {.msg_name = (void *)&snl, .msg_namelen = sizeof(snl), .msg_iov = &iov,
                       .msg_iovlen = 1};
  int fd = mnl_socket_get_fd(nl);
  if (sendmsg(mnl_socket_get_fd(nl), &msg, 0) != (ssize_t)len) return -1;
  struct stats st = {0, 0};
  static char buf[1 << 16];
  int acks = 0;
  for (;;) {
    fd_set r;
    FD_ZERO(&r);
    FD_SET(fd, &r);
    struct timeval tv = {0, 0};
    if (select(fd + 1, &r, NULL, NULL, &tv) < 0) return -1;
    if (!FD_ISSET(fd, &r)) break;
    ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
    if (n < 0) {
      if (errno == ENOBUFS) continue;
      return -1;
    }
    for (const struct nlmsghdr *h = (void *)buf; mnl_nlmsg_ok(h, (int)n);
         h = mnl_nlmsg_next(h, (int *)&n))
      if (h->nlmsg_type == NLMSG_ERROR) acks++;
    (void)st;
  }
  return acks;
}

static int wait_child(pid_t pid) {
  int status;
  if (waitpid(pid, &status, 0) != pid) return 20;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 21;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *mode = argv[1];

  if (!strcmp(mode, "echo")) {
    struct mnl_socket *nl = open_bound();
    printf("portid=%u\n", mnl_socket_get_portid(nl));
    int r = echo_once(nl, 1);
    mnl_socket_close(nl);
    return r;
  }
  if (!strcmp(mode, "dump") && argc == 4) {
    struct mnl_socket *nl = open_bound();
    uint32_t words[2] = {(uint32_t)atoi(argv[2]), (uint32_t)atoi(argv[3])};
    static char req[256];
    struct stats st = {0, 0};
    size_t len = build(req, kDump, NLM_F_DUMP, 7, words, 2);
    int ret = talk(nl, req, len, 7, &st);
    printf("ret=%d messages=%u bytes=%lu\n", ret, st.messages, st.bytes);
    return ret == MNL_CB_STOP && st.messages == words[0] ? 0 : 1;
  }
  if (!strcmp(mode, "eperm")) {
    drop_cap_net_admin();
    return expect_eperm(open_bound());
  }
  if (!strcmp(mode, "eperm-after-open")) {
    struct mnl_socket *nl = open_bound();
    drop_cap_net_admin();
    return expect_eperm(nl);
  }
  if (!strcmp(mode, "ports") && argc == 3) {
    int n = atoi(argv[2]);
    for (int i = 0; i < n; i++) printf("%d\n", (int)mnl_socket_get_portid(open_bound()));
    return 0;
  }
  if (!strcmp(mode, "listen") && argc == 3) {
    struct mnl_socket *nl = open_bound();
    int group = atoi(argv[2]);
    if (mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
      perror("NETLINK_ADD_MEMBERSHIP");
      return 13;
    }
    printf("ready\n");
    fflush(stdout);
    struct pollfd p = {mnl_socket_get_fd(nl), POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) return 14;
    char buf[8192];
    ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
    if (n <= 0) return 15;
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    printf("type=%x seq=%u\n", h->nlmsg_type, h->nlmsg_seq);
    return h->nlmsg_type == kPublish ? 0 : 16;
  }
  if (!strcmp(mode, "publish") && argc == 3) {
    struct mnl_socket *nl = open_bound();
    char req[256];
    uint32_t group = (uint32_t)atoi(argv[2]);
    size_t len = build(req, kPublish, 0, 99, &group, 1);
    return mnl_socket_sendto(nl, req, len) == (ssize_t)len ? 0 : 1;
  }
  if (!strcmp(mode, "fork")) {
    struct mnl_socket *nl = open_bound();
    if (echo_once(nl, 1)) return 1;
    pid_t pid = fork();
    if (pid == 0) _exit(echo_once(nl, 2) ? 30 : 0);
    int child = wait_child(pid);
    if (child) return child;
    return echo_once(nl, 3);
  }
  if (!strcmp(mode, "exec")) {
    struct mnl_socket *nl = open_bound();  /* no SOCK_CLOEXEC: survives exec */
    if (echo_once(nl, 1)) return 1;
    char fd[16], port[16];
    snprintf(fd, sizeof(fd), "%d", mnl_socket_get_fd(nl));
    snprintf(port, sizeof(port), "%u", mnl_socket_get_portid(nl));
    pid_t pid = fork();
    if (pid == 0) {
      execl("/proc/self/exe", argv[0], "inherited", fd, port, (char *)NULL);
      _exit(31);
    }
    int child = wait_child(pid);
    if (child) return child;
    return echo_once(nl, 4);
  }
  if (!strcmp(mode, "inherited") && argc == 4) {
    struct mnl_socket *nl = mnl_socket_fdopen(atoi(argv[2]));
    if (!nl) { perror("mnl_socket_fdopen"); return 32; }
    if (mnl_socket_get_portid(nl) != (unsigned)strtoul(argv[3], NULL, 10)) {
      fprintf(stderr, "inherited port %u, expected %s\n", mnl_socket_get_portid(nl), argv[3]);
      return 33;
    }
    return echo_once(nl, 2) ? 34 : 0;
  }
  if (!strcmp(mode, "stress") && argc == 3) {
    /* Many acked echoes on two sockets, alternating: every reply must carry its own socket's port
     * and its request's sequence number (mnl_cb_run checks both), with no leftovers. */
    struct mnl_socket *a = open_bound(), *b = open_bound();
    int n = atoi(argv[2]);
    char req[256];
    for (int i = 0; i < n; i++) {
      struct mnl_socket *nl = i % 2 ? a : b;
      struct stats st = {0, 0};
      size_t len = build(req, kEcho, NLM_F_ACK, (uint32_t)i + 1, NULL, 0);
      if (talk(nl, req, len, (uint32_t)i + 1, &st) != MNL_CB_STOP || st.messages != 1) {
        fprintf(stderr, "stress: request %d failed (%s)\n", i, strerror(errno));
        return 70;
      }
    }
    return 0;
  }
  if (!strcmp(mode, "rtt") && argc == 3) {
    /* Not a test: prints the mean send+receive round trip of N acked echoes (for docs/shim.md). */
    struct mnl_socket *nl = open_bound();
    int n = atoi(argv[2]);
    char req[256];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
      struct stats st = {0, 0};
      size_t len = build(req, kEcho, NLM_F_ACK, (uint32_t)i + 1, NULL, 0);
      if (talk(nl, req, len, (uint32_t)i + 1, &st) != MNL_CB_STOP) return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("rtt_us=%.2f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n / 1000.0);
    return 0;
  }
  if (!strcmp(mode, "closeall")) {
    /* Close every other fd behind libc's back (as close_range would), reuse the numbers for a
     * file, and check the next request re-attaches instead of writing into that file. */
    struct mnl_socket *nl = open_bound();
    if (echo_once(nl, 1)) return 1;
    int keep = mnl_socket_get_fd(nl);
    for (int i = 3; i < 256; i++)
      if (i != keep) syscall(SYS_close, i);
    char path[] = "/tmp/nfbpf-closeall.XXXXXX";
    int files[8];
    for (int i = 0; i < 8; i++) files[i] = i == 0 ? mkstemp(path) : open(path, O_RDWR);
    unlink(path);
    if (echo_once(nl, 2)) return 50;
    struct stat st;
    if (fstat(files[0], &st) != 0 || st.st_size != 0) {
      fprintf(stderr, "a request went into an unrelated file\n");
      return 51;
    }
    return 0;
  }
  if (!strcmp(mode, "rawbatch")) {
    /* Three slow messages with NLM_F_ACK: all three acks must be there after select(0). */
    struct mnl_socket *nl = open_bound();
    int acks = raw_batch(nl, kSlowEcho, NLM_F_ACK, 3, 10);
    printf("acks=%d\n", acks);
    if (acks != 3) return 60;
    /* A batch that succeeds silently: no reply at all, and the next exchange still works. */
    acks = raw_batch(nl, kSlowSilent, 0, 2, 20);
    printf("silent acks=%d\n", acks);
    if (acks != 0) return 61;
    if (echo_once(nl, 30)) return 62;
    return raw_batch(nl, kSlowEcho, NLM_F_ACK, 1, 40) == 1 ? 0 : 63;
  }
  if (!strcmp(mode, "mmsg")) {
    /* Three echo requests with NLM_F_ACK in one sendmmsg(), then recvmmsg(MSG_WAITFORONE): every
     * reply and ack must come back, none twice, and msg_len must say each datagram's size. */
    struct mnl_socket *nl = open_bound();
    static char req[3][256];
    struct iovec iov[3];
    struct mmsghdr out[3];
    const struct sockaddr_nl snl = {.nl_family = AF_NETLINK};
    memset(out, 0, sizeof(out));
    for (int i = 0; i < 3; i++) {
      iov[i].iov_base = req[i];
      iov[i].iov_len = build(req[i], kSlowEcho, NLM_F_ACK, 70 + (uint32_t)i, NULL, 0);
      out[i].msg_hdr.msg_name = (void *)&snl;
      out[i].msg_hdr.msg_namelen = sizeof(snl);
      out[i].msg_hdr.msg_iov = &iov[i];
      out[i].msg_hdr.msg_iovlen = 1;
    }
    int sent = sendmmsg(mnl_socket_get_fd(nl), out, 3, 0);
    if (sent != 3) { fprintf(stderr, "sendmmsg: %d (%s)\n", sent, strerror(errno)); return 70; }
    for (int i = 0; i < 3; i++)
      if (out[i].msg_len != iov[i].iov_len) { fprintf(stderr, "msg_len %u\n", out[i].msg_len); return 71; }
    static char in_buf[8][8192];
    struct iovec in_iov[8];
    struct mmsghdr in[8];
    int messages = 0, acks = 0;
    for (int round = 0; round < 10 && acks < 3; round++) {
      memset(in, 0, sizeof(in));
      for (int i = 0; i < 8; i++) {
        in_iov[i].iov_base = in_buf[i];
        in_iov[i].iov_len = sizeof(in_buf[i]);
        in[i].msg_hdr.msg_iov = &in_iov[i];
        in[i].msg_hdr.msg_iovlen = 1;
      }
      struct timespec timeout = {5, 0};
      int got = recvmmsg(mnl_socket_get_fd(nl), in, 8, MSG_WAITFORONE, &timeout);
      if (got < 0 && errno == EAGAIN) { usleep(20000); continue; }  /* the socket is non-blocking */
      if (got <= 0) { fprintf(stderr, "recvmmsg: %d (%s)\n", got, strerror(errno)); return 72; }
      for (int d = 0; d < got; d++) {
        int n = (int)in[d].msg_len;
        for (const struct nlmsghdr *h = (void *)in_buf[d]; mnl_nlmsg_ok(h, n); h = mnl_nlmsg_next(h, &n)) {
          if (h->nlmsg_type == NLMSG_ERROR) acks++; else messages++;
        }
      }
    }
    printf("messages=%d acks=%d\n", messages, acks);
    return messages == 3 && acks == 3 ? 0 : 73;
  }
  if (!strcmp(mode, "dead")) {
    struct mnl_socket *nl = open_bound();
    printf("ready\n");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof(line), stdin)) return 40;
    char buf[8192];
    struct pollfd p = {mnl_socket_get_fd(nl), POLLIN, 0};
    poll(&p, 1, 5000);
    ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
    if (n != -1 || errno != ECONNRESET) {
      fprintf(stderr, "recv after daemon death: %zd (%s)\n", n, strerror(errno));
      return 41;
    }
    char req[64];
    size_t len = build(req, kEcho, 0, 1, NULL, 0);
    n = mnl_socket_sendto(nl, req, len);
    if (n != -1 || errno != ECONNRESET) {
      fprintf(stderr, "send after daemon death: %zd (%s)\n", n, strerror(errno));
      return 42;
    }
    return 0;
  }
  fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
