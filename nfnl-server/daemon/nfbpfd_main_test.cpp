// The nfbpfd binary itself: options, signals, the socket file's life cycle.

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "nfnl-server/cli/status_client.h"

namespace {

class TempDir {
 public:
  TempDir() {
    char templ[] = "/tmp/nfbpfd-main-test.XXXXXX";
    path_ = ::mkdtemp(templ);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string sock() const { return path_ + "/run/nfbpf.sock"; }

 private:
  std::string path_;
};

pid_t spawn(std::vector<std::string> args) {
  args.insert(args.begin(), NFBPFD_PATH);
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

bool wait_for_socket(const std::string& path) {
  for (int i = 0; i < 500; ++i) {
    struct stat st{};
    if (::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Exit code, or 128+signal; -1 after a timeout (the child is killed).
int wait_exit(pid_t pid) {
  int status = 0;
  for (int i = 0; i < 1000; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

class SignalTest : public ::testing::TestWithParam<int> {};

TEST_P(SignalTest, StopsCleanlyAndRemovesItsSocket) {
  TempDir dir;
  pid_t pid = spawn({"--socket", dir.sock(), "--log-level", "warn"});
  ASSERT_TRUE(wait_for_socket(dir.sock())) << "the parent directory is created too";
  struct stat st{};
  ASSERT_EQ(::stat(dir.sock().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  ::kill(pid, GetParam());
  EXPECT_EQ(wait_exit(pid), 0);
  EXPECT_NE(::access(dir.sock().c_str(), F_OK), 0);
}

INSTANTIATE_TEST_SUITE_P(Nfbpfd, SignalTest, ::testing::Values(SIGTERM, SIGINT));

TEST(Nfbpfd, ReplacesAStaleSocketAndRefusesToRunTwice) {
  TempDir dir;
  std::filesystem::create_directories(std::filesystem::path(dir.sock()).parent_path());
  {
    // A socket file nobody listens on, as a crashed daemon leaves behind.
    int fd = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, dir.sock().c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);
  }
  pid_t first = spawn({"--socket", dir.sock()});
  ASSERT_TRUE(wait_for_socket(dir.sock()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  pid_t second = spawn({"--socket", dir.sock()});
  EXPECT_EQ(wait_exit(second), 1) << "a live daemon's socket is not taken over";
  EXPECT_EQ(::access(dir.sock().c_str(), F_OK), 0) << "and not removed by the loser";
  ::kill(first, SIGTERM);
  EXPECT_EQ(wait_exit(first), 0);
}

TEST(Nfbpfd, RejectsUnknownLogLevel) {
  TempDir dir;
  EXPECT_EQ(wait_exit(spawn({"--socket", dir.sock(), "--log-level", "chatty"})), 1);
}

// `nfbpf status` against a daemon that only stores rulesets; the answer needs CAP_NET_ADMIN.
TEST(Nfbpfd, AnswersStatusWithoutOffload) {
  TempDir dir;
  pid_t pid = spawn({"--socket", dir.sock(), "--offload", "none"});
  ASSERT_TRUE(wait_for_socket(dir.sock()));
  auto text = nfbpf::cli::fetch_status_json(dir.sock());
  if (::geteuid() == 0) {
    ASSERT_TRUE(text) << text.error().describe();
    nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << *text;
    EXPECT_EQ(j["mode"], "none");
    EXPECT_TRUE(j["chains"].empty());
    EXPECT_TRUE(j["last_refused"].is_null());
  } else {
    ASSERT_FALSE(text);
    EXPECT_EQ(text.error().err, EPERM);
  }
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid), 0);
}

}  // namespace
