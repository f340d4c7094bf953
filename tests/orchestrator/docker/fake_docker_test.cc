// The fake DockerClient keeps the daemon's rules that callers rely on, so
// unit tests written against it mean something.
#include "tests/support/fake_docker.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace kitgate::docker::testing {
namespace {

ContainerSpec agentSpec(const std::string& name, const std::string& network = "") {
  ContainerSpec spec;
  spec.name = name;
  spec.image = "kitgate-test-agent";
  spec.labels = {{"kitgate.sandbox", name}};
  spec.network = network;
  return spec;
}

TEST(FakeDocker, CreateNeedsImageAndFreeName) {
  FakeDockerClient docker;
  auto missing = docker.createContainer(agentSpec("amp"));
  ASSERT_FALSE(missing.isOk());
  EXPECT_NE(missing.status().message().find("not found (HTTP 404)"), std::string::npos);
  docker.addImage("kitgate-test-agent:latest");
  ASSERT_TRUE(docker.createContainer(agentSpec("amp")).isOk());
  auto taken = docker.createContainer(agentSpec("amp"));
  ASSERT_FALSE(taken.isOk());
  EXPECT_NE(taken.status().message().find("conflict (HTTP 409)"), std::string::npos);
}

TEST(FakeDocker, ExecNeedsRunningContainerAndUsesHandler) {
  FakeDockerClient docker;
  docker.addImage("kitgate-test-agent");
  docker.setExecHandler([](const FakeDockerClient::Container&, const ExecSpec& spec) {
    ExecResult r;
    r.exit_code = spec.user == "1000" ? 0 : 1;
    r.stdout_text = spec.cmd.back() + "\n";
    return r;
  });
  auto id = docker.createContainer(agentSpec("amp"));
  ASSERT_TRUE(id.isOk());
  EXPECT_FALSE(docker.exec(*id, ExecSpec{{"true"}}).isOk());
  ASSERT_TRUE(docker.startContainer(*id).isOk());
  ExecSpec spec;
  spec.cmd = {"sh", "-c", "echo hi"};
  spec.user = "1000";
  std::string streamed;
  auto r = docker.execStreaming("amp", spec, [&](OutputStream, std::string_view d) { streamed.append(d); });
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(streamed, "echo hi\n");
  EXPECT_EQ(docker.findContainer("amp")->execs.size(), 1u);
}

TEST(FakeDocker, NetworksGetGatewayAndRemovalFollowsDockerRules) {
  FakeDockerClient docker;
  docker.addImage("kitgate-test-agent");
  NetworkSpec net;
  net.name = "kitgate-amp";
  net.labels = {{"kitgate.sandbox", "amp"}};
  auto n = docker.createNetwork(net);
  ASSERT_TRUE(n.isOk());
  EXPECT_TRUE(n->internal);
  EXPECT_FALSE(n->gateway.empty());
  EXPECT_FALSE(docker.createNetwork(net).isOk());  // name taken
  auto id = docker.createContainer(agentSpec("amp", "kitgate-amp"));
  ASSERT_TRUE(id.isOk());
  ASSERT_TRUE(docker.startContainer(*id).isOk());
  EXPECT_FALSE(docker.removeNetwork("kitgate-amp").isOk());  // active endpoint
  EXPECT_FALSE(docker.removeContainer(*id, false).isOk());   // running
  ASSERT_TRUE(docker.removeContainer(*id, true).isOk());
  ASSERT_TRUE(docker.removeNetwork("kitgate-amp").isOk());
  EXPECT_TRUE(docker.nothingLabelled("kitgate.sandbox=amp"));
}

TEST(FakeDocker, InjectedFailureHitsOnlyTheNextCall) {
  FakeDockerClient docker;
  docker.addImage("kitgate-test-agent");
  docker.failNext("startContainer", "start container \"amp\": daemon error (HTTP 500): boom");
  auto id = docker.createContainer(agentSpec("amp"));
  ASSERT_TRUE(id.isOk());
  Status first = docker.startContainer(*id);
  EXPECT_EQ(first.message(), "start container \"amp\": daemon error (HTTP 500): boom");
  EXPECT_TRUE(docker.startContainer(*id).isOk());
  EXPECT_EQ(docker.calls().front(), "createContainer amp");
}

TEST(FakeDocker, UnreachableDaemonFailsEveryCall) {
  FakeDockerClient docker;
  docker.setUnreachable(true);
  auto v = docker.version();
  ASSERT_FALSE(v.isOk());
  EXPECT_NE(v.status().message().find("Is dockerd running?"), std::string::npos);
}

TEST(FakeDocker, PullOnlyWhatIsAllowedWithProgress) {
  FakeDockerClient docker;
  EXPECT_FALSE(docker.pullImage("ghcr.io/x/agent:1", nullptr).isOk());
  docker.allowPull("ghcr.io/x/agent:1");
  int lines = 0;
  ASSERT_TRUE(docker.pullImage("ghcr.io/x/agent:1", [&](const PullProgress&) { ++lines; }).isOk());
  EXPECT_EQ(lines, 4);
  EXPECT_TRUE(docker.inspectImage("ghcr.io/x/agent:1")->has_value());
}

TEST(FakeDocker, AttachGivesTheTestTheDaemonEnd) {
  FakeDockerClient docker;
  docker.addImage("kitgate-test-agent");
  auto id = docker.createContainer(agentSpec("amp"));
  ASSERT_TRUE(id.isOk());
  auto stream = docker.attach(*id, AttachOptions{});
  ASSERT_TRUE(stream.isOk());
  const int peer = docker.findContainer(*id)->attach_peer.get();
  ASSERT_EQ(::write(peer, "hi", 2), 2);
  char buf[2];
  ASSERT_EQ(::read(stream->fd.get(), buf, 2), 2);
  EXPECT_EQ(std::string(buf, 2), "hi");
  ASSERT_TRUE(docker.resizeTty(*id, 24, 80).isOk());
  EXPECT_EQ(docker.findContainer(*id)->tty_cols, 80);
}

}  // namespace
}  // namespace kitgate::docker::testing
