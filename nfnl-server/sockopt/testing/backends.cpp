#include "nfnl-server/sockopt/testing/backends.h"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "nfnl-server/sockopt/sockopt_marshal.h"

namespace nfbpf::nfnl::sockopt::testing {

KernelBackend::KernelBackend()
    : fd4_(::socket(AF_INET, SOCK_RAW, IPPROTO_RAW)), fd6_(::socket(AF_INET6, SOCK_RAW, IPPROTO_RAW)) {}

KernelBackend::~KernelBackend() {
  if (fd4_ >= 0) ::close(fd4_);
  if (fd6_ >= 0) ::close(fd6_);
}

int KernelBackend::get(int af, int optname, void* buf, socklen_t* len) {
  const int r = ::getsockopt(af == AF_INET6 ? fd6_ : fd4_, af == AF_INET6 ? SOL_IPV6 : SOL_IP,
                             optname, buf, len);
  return r < 0 ? -errno : r;
}

int KernelBackend::set(int af, int optname, const void* buf, socklen_t len) {
  const int r = ::setsockopt(af == AF_INET6 ? fd6_ : fd4_, af == AF_INET6 ? SOL_IPV6 : SOL_IP,
                             optname, buf, len);
  return r < 0 ? -errno : r;
}

int StoreBackend::get(int af, int optname, void* buf, socklen_t* len) {
  const int optlen = static_cast<int>(*len);
  SockoptAnswer a = store_.family(af).get(optname, marshal::get_input(buf, optlen), optlen);
  if (a.status >= 0) marshal::apply_get(buf, optlen, a.write_offset, a.data);
  return a.status;
}

int StoreBackend::set(int af, int optname, const void* buf, socklen_t len) {
  SockoptAnswer a = store_.family(af).set(optname, marshal::set_input(optname, buf, len), len);
  if (a.status >= 0 && optname == IPT_SO_SET_REPLACE) marshal::apply_replace(buf, a.data);
  return a.status;
}

namespace {

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + 4);
}

bool read_all(int fd, std::vector<uint8_t>& out) {
  uint8_t buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    out.insert(out.end(), buf, buf + n);
  }
}

}  // namespace

Trace run_in_kernel_netns(const std::function<void(Backend&, Trace&)>& scenario) {
  int fds[2];
  if (::pipe(fds) != 0) return {{"pipe failed", -errno, {}}};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::vector<uint8_t> out;
    if (::unshare(CLONE_NEWNET) != 0) {
      put_u32(out, 0xFFFFFFFFu);
    } else {
      KernelBackend kernel;
      Trace trace;
      scenario(kernel, trace);
      for (const Observation& o : trace) {
        put_u32(out, static_cast<uint32_t>(o.what.size()));
        out.insert(out.end(), o.what.begin(), o.what.end());
        put_u32(out, static_cast<uint32_t>(o.ret));
        put_u32(out, static_cast<uint32_t>(o.bytes.size()));
        out.insert(out.end(), o.bytes.begin(), o.bytes.end());
      }
    }
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) ::_exit(2);
      done += static_cast<size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::vector<uint8_t> raw;
  read_all(fds[0], raw);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  Trace trace;
  size_t pos = 0;
  auto u32 = [&](uint32_t& v) {
    if (pos + 4 > raw.size()) return false;
    std::memcpy(&v, raw.data() + pos, 4);
    pos += 4;
    return true;
  };
  while (pos < raw.size()) {
    uint32_t len, ret, n;
    if (!u32(len) || len == 0xFFFFFFFFu || pos + len > raw.size()) {
      return {{"unshare(CLONE_NEWNET) failed in the child", -1, {}}};
    }
    Observation o;
    o.what.assign(reinterpret_cast<const char*>(raw.data() + pos), len);
    pos += len;
    if (!u32(ret) || !u32(n) || pos + n > raw.size()) return {{"truncated trace", -1, {}}};
    o.ret = static_cast<int>(ret);
    o.bytes.assign(raw.begin() + static_cast<long>(pos), raw.begin() + static_cast<long>(pos + n));
    pos += n;
    trace.push_back(std::move(o));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) trace.push_back({"child failed", -1, {}});
  return trace;
}

std::string first_difference(const Trace& kernel, const Trace& ours) {
  std::ostringstream out;
  for (size_t i = 0; i < std::max(kernel.size(), ours.size()); ++i) {
    if (i >= kernel.size()) return "extra observation: " + ours[i].what;
    if (i >= ours.size()) return "missing observation: " + kernel[i].what;
    const Observation& k = kernel[i];
    const Observation& o = ours[i];
    if (k.what != o.what) return "scenario diverged: " + k.what + " vs " + o.what;
    if (k.ret != o.ret) {
      out << k.what << ": kernel returned " << k.ret << " (" << (k.ret < 0 ? std::strerror(-k.ret) : "ok")
          << "), nfbpf " << o.ret << " (" << (o.ret < 0 ? std::strerror(-o.ret) : "ok") << ")";
      return out.str();
    }
    if (k.bytes != o.bytes) {
      size_t at = 0;
      while (at < k.bytes.size() && at < o.bytes.size() && k.bytes[at] == o.bytes[at]) ++at;
      out << k.what << ": bytes differ at offset " << at << " (kernel " << k.bytes.size()
          << " bytes, nfbpf " << o.bytes.size() << ")";
      if (at < k.bytes.size() && at < o.bytes.size()) {
        out << ": kernel 0x" << std::hex << int{k.bytes[at]} << ", nfbpf 0x" << int{o.bytes[at]};
      }
      return out.str();
    }
  }
  return "";
}

}  // namespace nfbpf::nfnl::sockopt::testing
