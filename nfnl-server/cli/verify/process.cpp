#include "nfnl-server/cli/verify/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "common/fd.h"

namespace nfbpf::verify {

namespace {

std::atomic<bool> g_interrupted{false};

void on_signal(int) { g_interrupted = true; }

// In the child, between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                             int netns_fd, pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
  if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) _exit(126);
  for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  _exit(127);
}

}  // namespace

bool interrupted() { return g_interrupted.load(); }

void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: blocking waits return EINTR and look at the flag
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

Result<RunResult> run(const std::vector<std::string>& argv, const RunOptions& opt) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return fail_errno("pipe");
  Fd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return fail_errno("fork");
  if (pid == 0) {
    dup2(in_r.get(), 0);
    dup2(out_w.get(), 1);
    dup2(err_w.get(), 2);
    exec_child(argv, opt.env, opt.netns_fd, parent);
  }
  in_r.reset();
  out_w.reset();
  err_w.reset();
  fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
  size_t written = 0;
  if (opt.stdin_text.empty()) in_w.reset();
  RunResult res;
  const auto deadline = std::chrono::steady_clock::now() + opt.timeout;
  bool killed = false;
  while (out_r.valid() || err_r.valid()) {
    pollfd p[3];
    int n = 0;
    if (out_r.valid()) p[n++] = {out_r.get(), POLLIN, 0};
    if (err_r.valid()) p[n++] = {err_r.get(), POLLIN, 0};
    if (in_w.valid()) p[n++] = {in_w.get(), POLLOUT, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || interrupted()) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    int r = poll(p, n, static_cast<int>(std::min<long>(left.count(), 200)));
    if (r < 0 && errno != EINTR) break;
    for (int i = 0; i < n && r > 0; ++i) {
      if (!p[i].revents) continue;
      if (p[i].fd == in_w.get()) {
        ssize_t w = write(in_w.get(), opt.stdin_text.data() + written, opt.stdin_text.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN) in_w.reset();
        if (written == opt.stdin_text.size()) in_w.reset();
        continue;
      }
      char buf[65536];
      ssize_t got = read(p[i].fd, buf, sizeof buf);
      if (got <= 0) {
        if (p[i].fd == out_r.get()) out_r.reset();
        else err_r.reset();
        continue;
      }
      (p[i].fd == out_r.get() ? res.out : res.err).append(buf, static_cast<size_t>(got));
    }
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  res.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (killed && interrupted()) return failf(EINTR, "interrupted while running {}", argv[0]);
  if (killed) res.err += "\n(killed after the timeout)";
  return res;
}

Result<void> Daemon::start(const std::vector<std::string>& argv, int netns_fd, const std::string& bpffs_dir,
                           const std::string& log_path, const std::map<std::string, std::string>& env) {
  Fd log(open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log.valid()) return fail_errno("open " + log_path);
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) return fail_errno("fork");
  if (pid_ == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(log.get(), 1);
    dup2(log.get(), 2);
    // A private mount namespace: the bpffs below (and anything nfbpfd could pin) is seen by no one
    // else and disappears with the daemon.
    if (unshare(CLONE_NEWNS) != 0) _exit(125);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(125);
    if (mount("bpf", bpffs_dir.c_str(), "bpf", 0, nullptr) != 0) _exit(124);
    exec_child(argv, env, netns_fd, parent);
  }
  return {};
}

bool Daemon::alive() {
  if (pid_ < 0) return false;
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void Daemon::stop() {
  if (pid_ < 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {  // up to 2 s, then SIGKILL
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    usleep(20000);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

}  // namespace nfbpf::verify
