// The server over a real unix socket in a temp directory: a client's
// request reaches the handler only when the authorizer allows the peer and
// the request parses; every refusal is an error response and the handler is
// never called.
#include "orchestrator/privd/server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "orchestrator/privd/client.h"
#include "proxy/common/unique_fd.h"

namespace kitgate::privd {
namespace {

class RecordingHandler final : public Handler {
 public:
  Response handle(const Request& request, const PeerCred& peer) override {
    calls.push_back(std::string(verbName(request.verb)) + " " + request.name);
    last_peer_uid = peer.uid;
    Response r;
    r.ok = true;
    r.text = "done";
    return r;
  }
  std::vector<std::string> calls;
  uid_t last_peer_uid = 12345;
};

class PrivdServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kitgate-privd-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/daemon.sock";
  }
  void TearDown() override {
    stopServer();
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  void startServer(Authorizer authorize) {
    auto server = Server::listen(path_, ::getegid(), std::move(authorize), handler_,
                                 [this](const std::string& line) { log_.push_back(line); });
    ASSERT_TRUE(server.isOk()) << server.status().message();
    server_ = std::move(*server);
    thread_ = std::thread([this] { run_status_ = server_->run(); });
  }
  void stopServer() {
    if (!server_) return;
    server_->stop();
    thread_.join();
    EXPECT_TRUE(run_status_.isOk()) << run_status_.message();
    server_.reset();
  }
  // Sends raw bytes, returns the raw reply.
  std::string rawCall(const std::string& bytes) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size());
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::shutdown(fd.get(), SHUT_WR);
    std::string reply;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd.get(), buf, sizeof buf, 0)) > 0;) reply.append(buf, n);
    return reply;
  }

  std::string dir_, path_;
  RecordingHandler handler_;
  std::vector<std::string> log_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  Status run_status_;
};

Authorizer allowAll() {
  return [](const PeerCred&) { return Status::ok(); };
}

TEST_F(PrivdServerTest, TheSocketIsGroupOnly0660) {
  startServer(allowAll());
  struct stat info {};
  ASSERT_EQ(::lstat(path_.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0660u);
  EXPECT_EQ(info.st_gid, ::getegid());
}

TEST_F(PrivdServerTest, AnAllowedWellFormedRequestReachesTheHandler) {
  startServer(allowAll());
  Request r;
  r.verb = Verb::kSandboxCa;
  r.name = "amp";
  auto reply = callOk(path_, r);
  ASSERT_TRUE(reply.isOk()) << reply.status().message();
  EXPECT_EQ(reply->text, "done");
  ASSERT_EQ(handler_.calls.size(), 1u);
  EXPECT_EQ(handler_.calls[0], "sandbox-ca amp");
  EXPECT_EQ(handler_.last_peer_uid, ::geteuid());
  stopServer();
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_NE(log_[0].find("uid " + std::to_string(::geteuid()) + " "), std::string::npos);
  EXPECT_NE(log_[0].find("sandbox-ca amp: ok"), std::string::npos) << log_[0];
}

TEST_F(PrivdServerTest, ARefusedPeerGetsTheReasonAndNothingRuns) {
  startServer([](const PeerCred& peer) {
    return Status::error("refused: uid " + std::to_string(peer.uid) + " is not in the group");
  });
  Request r;
  r.verb = Verb::kProxyReload;
  auto reply = callOk(path_, r);
  ASSERT_FALSE(reply.isOk());
  EXPECT_NE(reply.status().message().find("kitgate daemon: refused: uid"), std::string::npos)
      << reply.status().message();
  EXPECT_TRUE(handler_.calls.empty());
}

TEST_F(PrivdServerTest, MalformedOversizeAndUnknownRequestsAreRefused) {
  startServer(allowAll());
  struct Case {
    std::string bytes, expect;
  };
  const std::vector<Case> cases = {
      {"garbage", "malformed request"},
      {R"({"verb":"exec","argv":["sh"]})", "unknown verb"},
      {R"({"verb":"sandbox-remove","name":"../../etc"})", "invalid sandbox name"},
      {R"({"verb":"proxy-reload","cmd":"rm -rf /"})", "takes no field"},
      {std::string(kMaxMessageBytes + 10, ' '), "too large"},
  };
  for (const Case& c : cases) {
    auto reply = parseResponse(rawCall(c.bytes));
    ASSERT_TRUE(reply.isOk()) << c.expect;
    EXPECT_FALSE(reply->ok);
    EXPECT_NE(reply->error.find(c.expect), std::string::npos) << c.expect << " -> " << reply->error;
  }
  EXPECT_TRUE(handler_.calls.empty());
}

TEST_F(PrivdServerTest, AStaleSocketIsReplacedButNoOtherFile) {
  startServer(allowAll());
  stopServer();  // the destructor unlinks; leave a stale socket behind instead
  {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size());
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  startServer(allowAll());
  Request hello;
  EXPECT_TRUE(callOk(path_, hello).isOk());
  stopServer();

  const std::string file = dir_ + "/plain";
  ASSERT_EQ(::close(::open(file.c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  auto refused = Server::listen(file, ::getegid(), allowAll(), handler_);
  EXPECT_FALSE(refused.isOk());
  struct stat info {};
  EXPECT_EQ(::lstat(file.c_str(), &info), 0);
  EXPECT_TRUE(S_ISREG(info.st_mode));
  ::unlink(file.c_str());
}

TEST_F(PrivdServerTest, NoDaemonGivesAnErrorNamingTheFix) {
  Request hello;
  auto reply = call(dir_ + "/absent.sock", hello);
  ASSERT_FALSE(reply.isOk());
  EXPECT_NE(reply.status().message().find("kitgate daemon is not running"), std::string::npos);
  EXPECT_NE(reply.status().message().find("systemctl enable --now kitgate-daemon"),
            std::string::npos);
}

}  // namespace
}  // namespace kitgate::privd
