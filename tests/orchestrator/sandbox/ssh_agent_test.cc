// SSH agent forwarding (ssh_agent.h, kit-spec §5.13): which host socket is
// forwarded, and what the plan does with it.
#include "orchestrator/sandbox/ssh_agent.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "kitloader/kit.h"
#include "orchestrator/sandbox/plan.h"
#include "proxy/common/unique_fd.h"

namespace kitgate::sandbox {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;

class SshAgentForwardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kitgate-ssh-agent-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // A listening unix socket at dir_/name owned by `uid`.
  std::string socketAt(const std::string& name, uid_t uid) {
    const std::string path = (dir_ / name).string();
    sock_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    EXPECT_EQ(::bind(sock_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    if (::geteuid() == 0) {
      EXPECT_EQ(::chown(path.c_str(), uid, uid), 0);
    }
    return path;
  }
  fs::path dir_;
  UniqueFd sock_;
};

TEST_F(SshAgentForwardTest, UnsetOrEmptyIsANoteNotAnError) {
  for (const char* value : {static_cast<const char*>(nullptr), ""}) {
    SshAgentForward f = sshAgentToForward(value);
    EXPECT_TRUE(f.socket.empty());
    EXPECT_THAT(f.note, HasSubstr("SSH_AUTH_SOCK is not set"));
  }
}

TEST_F(SshAgentForwardTest, SomethingThatIsNotAnAgentSocketIsNotForwarded) {
  const std::string file = (dir_ / "file").string();
  std::ofstream(file) << "not a socket";
  for (const std::string& value :
       {std::string("relative/agent.sock"), file, (dir_ / "missing.sock").string()}) {
    SshAgentForward f = sshAgentToForward(value.c_str());
    EXPECT_TRUE(f.socket.empty()) << value;
    EXPECT_THAT(f.note, HasSubstr("SSH_AUTH_SOCK=" + value)) << value;
  }
}

TEST_F(SshAgentForwardTest, TheSandboxAgentsOwnUidIsForwardedAnotherUidIsNot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (chown of the test socket)";
  const std::string mine = socketAt("agent-1000.sock", kAgentUid);
  EXPECT_EQ(sshAgentToForward(mine.c_str()).socket, mine);
  const std::string other = socketAt("agent-0.sock", 0);
  SshAgentForward f = sshAgentToForward(other.c_str());
  EXPECT_TRUE(f.socket.empty());
  EXPECT_THAT(f.note, HasSubstr("belongs to uid 0"));
}

PlanInput agentInput(const std::string& socket) {
  kit::LoadResult r = kit::loadSpecBytes(
      "schemaVersion: \"2\"\nkind: sandbox\nname: ssh\nsandbox:\n  image: example/agent:1\n");
  EXPECT_TRUE(r.ok());
  PlanInput in;
  in.kit = r.kit;
  in.name = "ssh-proj";
  in.workspace = "/home/u/proj";
  in.agent = "ssh";
  in.subnet = "172.30.16.0/24";
  in.gateway = "172.30.16.1";
  in.token = "kgtTESTtoken0000000000";
  in.ssh_agent_socket = socket;
  return in;
}

TEST(SandboxPlan, ForwardedAgentIsTheSocketOnlyAndSshAuthSockPointsAtIt) {
  auto plan = planSandbox(agentInput("/tmp/ssh-XYZ/agent.42"));
  ASSERT_TRUE(plan.isOk()) << plan.status().message();
  EXPECT_THAT(plan->container.env, Contains("SSH_AUTH_SOCK=" + std::string(kSshAgentPath)));
  int agent_mounts = 0;
  for (const docker::Mount& m : plan->container.mounts) {
    if (m.target != kSshAgentPath) continue;
    ++agent_mounts;
    EXPECT_EQ(m.type, docker::MountType::kBind);
    EXPECT_EQ(m.source, "/tmp/ssh-XYZ/agent.42");  // the socket, not its directory or ~/.ssh
  }
  EXPECT_EQ(agent_mounts, 1);

  auto off = planSandbox(agentInput(""));
  ASSERT_TRUE(off.isOk());
  EXPECT_THAT(off->container.env, Not(Contains(HasSubstr("SSH_AUTH_SOCK"))));
  for (const docker::Mount& m : off->container.mounts) EXPECT_NE(m.target, kSshAgentPath);
}

}  // namespace
}  // namespace kitgate::sandbox
