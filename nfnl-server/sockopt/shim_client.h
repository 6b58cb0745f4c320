#pragma once
// The shim's half of iptables-legacy support (linked into libnfbpf-shim.so: libc only, raw
// syscalls, errors as -errno). getsockopt/setsockopt of IPT_SO_*/IP6T_SO_* on raw AF_INET/AF_INET6
// sockets, and reads of /proc/net/ip{,6}_tables_names, go to nfbpfd as kIptSockopt records on a
// short-lived control connection; everything else stays with the kernel.

#include <sys/socket.h>

#include <cstdio>

namespace nfbpf::shim {

// The socket's family if (fd, level, optname) is an x_tables sockopt nfbpfd answers (a raw
// AF_INET/AF_INET6 socket, SOL_IP/SOL_IPV6, an option in nf_sockopt's range), else 0.
int xt_sockopt_family(int fd, int level, int optname, bool set);

// As the kernel's getsockopt/setsockopt for that option: >= 0 or -errno.
int ipt_getsockopt(int family, int optname, void* value, socklen_t* len);
int ipt_setsockopt(int family, int optname, const void* value, socklen_t len);

// AF_INET/AF_INET6 if `path` is /proc/net/ip_tables_names or /proc/net/ip6_tables_names.
int xt_proc_names_family(const char* path);
// A read-only stream over nfbpfd's answer for that file, or nullptr (errno set).
FILE* open_xt_proc_names(int family);

}  // namespace nfbpf::shim
