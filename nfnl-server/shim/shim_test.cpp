// libnfbpf-shim.so end to end: unmodified libmnl clients (testdata/mnl_test_client.c) and nft
// run under LD_PRELOAD against a daemon on a thread of this process with the fake protocol.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "nfnl-server/daemon/testing/server_fixture.h"

namespace nfbpf::nfnl::testing {
namespace {

// A child process with LD_PRELOAD set, stdin and stdout piped to us.
class Child {
 public:
  // preload: set LD_PRELOAD to the shim (false: the command is expected to do it, e.g. nfbpf-run).
  Child(const std::string& socket_path, std::vector<std::string> argv, bool preload = true) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      std::vector<std::string> env_storage = {"NFBPF_SOCKET=" + socket_path,
                                              "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
      if (preload) env_storage.push_back(std::string("LD_PRELOAD=") + NFBPF_SHIM_PATH);
      std::vector<char*> env, args;
      for (auto& e : env_storage) env.push_back(e.data());
      env.push_back(nullptr);
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execve(args[0], args.data(), env.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(stdin_);
    ::close(stdout_);
  }

  // One line of the child's stdout, waiting at most `timeout`.
  std::string read_line(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::string line;
    char c;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{stdout_, POLLIN, 100};
      if (::poll(&p, 1, 100) != 1) continue;
      if (::read(stdout_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line += c;
    }
    return line;
  }
  void write_line(const std::string& s) {
    std::string l = s + "\n";
    ASSERT_EQ(::write(stdin_, l.data(), l.size()), static_cast<ssize_t>(l.size()));
  }
  // Exit status (or 128+signal); kills the child after `timeout` so a hang fails the test.
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        reaped_ = true;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string rest_of_output() {
    std::string all, line;
    while (!(line = read_line(std::chrono::milliseconds(200))).empty()) all += line + "\n";
    return all;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  bool reaped_ = false;
};

int run_client(const std::string& socket_path, std::vector<std::string> args,
               std::string* output = nullptr) {
  args.insert(args.begin(), NFBPF_MNL_CLIENT);
  Child child(socket_path, args);
  const int status = child.wait();
  if (output) *output = child.rest_of_output();
  return status;
}

TEST(Shim, LibmnlClientSeesRepliesRightAfterSend) {
  ServerThread server;
  std::string out;
  ASSERT_EQ(run_client(server.socket_path(), {"echo"}, &out), 0) << out;
  EXPECT_NE(out.find("portid="), std::string::npos);
  EXPECT_EQ(server.protocol().calls(), 1u);
}

TEST(Shim, RawSendmsgBatchLikeNftIsAnsweredBeforeSelect) {
  // nft sends batches with sendmsg() on mnl_socket_get_fd(), not through libmnl.
  ServerThread server;
  std::string out;
  ASSERT_EQ(run_client(server.socket_path(), {"rawbatch"}, &out), 0) << out;
  EXPECT_EQ(server.protocol().calls(), 4u);
}

TEST(Shim, SendmmsgAndRecvmmsgCarryEveryDatagram) {
  ServerThread server;
  std::string out;
  ASSERT_EQ(run_client(server.socket_path(), {"mmsg"}, &out), 0) << out;
  EXPECT_EQ(server.protocol().calls(), 3u);
  EXPECT_NE(out.find("messages=3 acks=3"), std::string::npos) << out;
}

TEST(Shim, ConcurrentClientsNeverSeeEachOthersReplies) {
  ServerThread server;
  std::vector<std::unique_ptr<Child>> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(std::make_unique<Child>(
        server.socket_path(), std::vector<std::string>{NFBPF_MNL_CLIENT, "stress", "300"}));
  }
  for (auto& c : clients) EXPECT_EQ(c->wait(std::chrono::seconds(60)), 0);
  EXPECT_EQ(server.protocol().calls(), 6u * 300u);
}

TEST(Shim, MultiMegabyteDumpIsCompleteAfterSelectZero) {
  ServerThread server;
  std::string out;
  // ~6 MB: 3 000 messages of 2 KB, read by a non-blocking client that stops at EAGAIN.
  ASSERT_EQ(run_client(server.socket_path(), {"dump", "3000", "2048"}, &out), 0) << out;
  EXPECT_NE(out.find("messages=3000"), std::string::npos) << out;
}

TEST(Shim, PortIdsArePidThenNegative) {
  ServerThread server;
  Child child(server.socket_path(), {NFBPF_MNL_CLIENT, "ports", "3"});
  std::vector<long> ports;
  for (int i = 0; i < 3; ++i) ports.push_back(std::stol(child.read_line()));
  ASSERT_EQ(child.wait(), 0);
  EXPECT_GT(ports[0], 0) << "the first socket gets the process id";
  EXPECT_LE(ports[1], -4097);
  EXPECT_LE(ports[2], -4097);
  EXPECT_NE(ports[1], ports[2]);
}

TEST(Shim, MulticastReachesASubscribedProcess) {
  ServerThread server;
  Child listener(server.socket_path(), {NFBPF_MNL_CLIENT, "listen", "7"});
  ASSERT_EQ(listener.read_line(), "ready");
  ASSERT_EQ(run_client(server.socket_path(), {"publish", "7"}), 0);
  EXPECT_EQ(listener.read_line(), "type=102 seq=99");
  EXPECT_EQ(listener.wait(), 0);
}

TEST(Shim, PeerWithoutCapNetAdminGetsEperm) {
  ServerThread server;
  EXPECT_EQ(run_client(server.socket_path(), {"eperm"}), 0);
  // netlink_net_capable also checks the sender at send time, not only the opener.
  EXPECT_EQ(run_client(server.socket_path(), {"eperm-after-open"}), 0);
  EXPECT_EQ(server.protocol().calls(), 0u) << "the protocol never sees unprivileged requests";
}

TEST(Shim, ForkedChildSharesTheSocket) {
  ServerThread server;
  std::string out;
  EXPECT_EQ(run_client(server.socket_path(), {"fork"}, &out), 0) << out;
  EXPECT_EQ(server.protocol().calls(), 3u);
}

TEST(Shim, ExecInheritsTheSocketAndItsPort) {
  ServerThread server;
  std::string out;
  EXPECT_EQ(run_client(server.socket_path(), {"exec"}, &out), 0) << out;
  EXPECT_EQ(server.protocol().calls(), 3u);
}

TEST(Shim, ControlFdClosedBehindOurBackIsReplacedNotReused) {
  ServerThread server;
  std::string out;
  EXPECT_EQ(run_client(server.socket_path(), {"closeall"}, &out), 0) << out;
  EXPECT_EQ(server.protocol().calls(), 2u);
}

TEST(Shim, DeadDaemonIsConnectionResetNotEof) {
  ServerThread server;
  Child child(server.socket_path(), {NFBPF_MNL_CLIENT, "dead"});
  ASSERT_EQ(child.read_line(), "ready");
  server.stop();
  child.write_line("go");
  EXPECT_EQ(child.wait(), 0);
}

TEST(Shim, MissingDaemonFailsSocketWithConnectionRefused) {
  std::string out;
  EXPECT_EQ(run_client("/nonexistent/nfbpf.sock", {"echo"}, &out), 11);
}

TEST(Shim, NfbpfRunPreloadsTheShimAndHonoursNfbpfSocket) {
  ServerThread server;
  Child run(server.socket_path(), {NFBPF_RUN_PATH, NFBPF_MNL_CLIENT, "echo"}, false);
  EXPECT_EQ(run.wait(), 0);
  EXPECT_EQ(server.protocol().calls(), 1u);
  Child usage(server.socket_path(), {NFBPF_RUN_PATH}, false);
  EXPECT_EQ(usage.wait(), 2);
}

TEST(Shim, RealNftIsRoutedToTheDaemon) {
  // The fake protocol refuses nft's first request (GETGEN) with EOPNOTSUPP: nft must report it,
  // which proves its socket reached the daemon and the error came back. In a private network
  // namespace so a routing failure can never touch the host's ruleset.
  if (::access("/usr/sbin/nft", X_OK) != 0) GTEST_FAIL() << "nft 1.0.6 is part of the test image";
  ServerThread server;
  Child nft(server.socket_path(), {"/usr/bin/unshare", "-n", "/usr/sbin/nft", "list", "ruleset"});
  EXPECT_EQ(nft.wait(), 1);
  EXPECT_GE(server.protocol().calls(), 1u);
}

}  // namespace
}  // namespace nfbpf::nfnl::testing
