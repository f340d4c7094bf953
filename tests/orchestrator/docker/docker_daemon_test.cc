// EngineClient against a real dockerd (ctest label `docker`). The suite
// starts the daemon with tests/e2e/support/start-dockerd.sh and builds the
// registry-free test rootfs with build-test-image.sh; it skips, saying why,
// only where that script reports that Docker cannot run (exit 77).
// Everything it creates carries a per-run label and is removed at the end;
// the last test asserts nothing is left.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "orchestrator/docker/engine_client.h"
#include "orchestrator/docker/tar.h"

namespace kitgate::docker {
namespace {

const std::string kSupport = KITGATE_E2E_SUPPORT_DIR;

struct Command {
  int exit_code = -1;
  std::string out;
};

Command run(const std::string& cmd) {
  Command c;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return c;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) c.out.append(buf, n);
  const int status = ::pclose(p);
  c.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  while (!c.out.empty() && c.out.back() == '\n') c.out.pop_back();
  return c;
}

class DockerDaemon : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Command started = run(kSupport + "/start-dockerd.sh");
    if (started.exit_code == 77) {
      skip_reason_ = "Docker cannot run on this machine (start-dockerd.sh exited 77)";
      return;
    }
    if (started.exit_code != 0) {
      setup_error_ = "start-dockerd.sh failed with exit code " + std::to_string(started.exit_code);
      return;
    }
    Command built = run(kSupport + "/build-test-image.sh --print-rootfs");
    if (built.exit_code != 0) {
      setup_error_ = "build-test-image.sh failed with exit code " + std::to_string(built.exit_code);
      return;
    }
    rootfs_ = built.out.substr(built.out.rfind('\n') == std::string::npos ? 0 : built.out.rfind('\n') + 1);
  }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    auto client = connectDocker();
    ASSERT_TRUE(client.isOk()) << client.status().message();
    docker_ = std::move(*client);
  }

  // Removes whatever this run labelled, even after a failed assertion.
  void TearDown() override {
    if (!docker_) return;
    if (auto cs = docker_->listContainers({label()}); cs.isOk()) {
      for (const auto& c : *cs) (void)docker_->removeContainer(c.id, true);
    }
    if (auto ns = docker_->listNetworks({label()}); ns.isOk()) {
      for (const auto& n : *ns) (void)docker_->removeNetwork(n.id);
    }
    if (auto vs = docker_->listVolumes({label()}); vs.isOk()) {
      for (const auto& v : *vs) (void)docker_->removeVolume(v.name, true);
    }
  }

  static std::string runId() { return std::to_string(::getpid()); }
  static std::string label() { return "kitgate.test=docker-" + runId(); }
  static Labels labels() { return {{"kitgate.test", "docker-" + runId()}}; }

  // An image imported through the API from the test rootfs.
  std::string importTestImage() {
    ImportSpec spec;
    spec.tarball_path = rootfs_;
    spec.repository = "kitgate-docker-test";
    spec.tag = runId();
    spec.changes = {"LABEL kitgate.test=docker-" + runId(), "CMD [\"/bin/sh\"]"};
    auto id = docker_->importImage(spec);
    EXPECT_TRUE(id.isOk()) << id.status().message();
    return spec.repository + ":" + spec.tag;
  }

  static inline std::string skip_reason_;
  static inline std::string setup_error_;
  static inline std::string rootfs_;
  std::unique_ptr<DockerClient> docker_;
};

TEST_F(DockerDaemon, NegotiatesAnApiVersion) {
  auto v = docker_->version();
  ASSERT_TRUE(v.isOk());
  EXPECT_FALSE(v->engine_version.empty());
  EXPECT_FALSE(v->negotiated_api_version.empty());
  EXPECT_TRUE(docker_->ping().isOk());
}

TEST_F(DockerDaemon, ContainerLifecycleOnInternalNetwork) {
  const std::string image = importTestImage();
  auto image_info = docker_->inspectImage(image);
  ASSERT_TRUE(image_info.isOk()) << image_info.status().message();
  ASSERT_TRUE(image_info->has_value());
  EXPECT_EQ((*image_info)->labels.at("kitgate.test"), "docker-" + runId());

  NetworkSpec net;
  net.name = "kitgate-test-" + runId();
  net.labels = labels();
  auto network = docker_->createNetwork(net);
  ASSERT_TRUE(network.isOk()) << network.status().message();
  EXPECT_TRUE(network->internal);
  EXPECT_FALSE(network->gateway.empty());
  EXPECT_FALSE(network->subnet.empty());

  VolumeSpec vol;
  vol.name = "kitgate-test-home-" + runId();
  vol.labels = labels();
  auto volume = docker_->createVolume(vol);
  ASSERT_TRUE(volume.isOk()) << volume.status().message();

  ContainerSpec spec;
  spec.name = "kitgate-test-" + runId();
  spec.image = image;
  spec.env = {"KITGATE_PROBE=yes"};
  spec.labels = labels();
  spec.cmd = std::vector<std::string>{"sleep", "infinity"};
  spec.init = true;  // so that stop's SIGTERM ends sleep at once
  spec.network = net.name;
  spec.mounts = {{MountType::kVolume, vol.name, "/home/agent", false}};
  auto id = docker_->createContainer(spec);
  ASSERT_TRUE(id.isOk()) << id.status().message();

  // Same name again: a conflict carrying Docker's text.
  auto again = docker_->createContainer(spec);
  ASSERT_FALSE(again.isOk());
  EXPECT_NE(again.status().message().find("conflict (HTTP 409)"), std::string::npos) << again.status().message();

  // Files copied in before start land with their owner and mode.
  TarWriter tar;
  ASSERT_TRUE(tar.addFile("home/agent/hello.txt", "hello from kitgate\n", 0640, {1000, 1000}).isOk());
  ASSERT_TRUE(docker_->putArchive(*id, "/", tar.finish()).isOk());

  ASSERT_TRUE(docker_->startContainer(*id).isOk());
  ASSERT_TRUE(docker_->startContainer(*id).isOk());  // already running is fine
  auto info = docker_->inspectContainer(*id);
  ASSERT_TRUE(info.isOk()) << info.status().message();
  ASSERT_TRUE(info->has_value());
  EXPECT_TRUE((*info)->state.running);
  EXPECT_FALSE((*info)->network_ips.at(net.name).empty());

  auto uid = docker_->exec(*id, ExecSpec{{"id", "-u", "agent"}});
  ASSERT_TRUE(uid.isOk()) << uid.status().message();
  EXPECT_EQ(uid->exit_code, 0);
  EXPECT_EQ(uid->stdout_text, "1000\n");

  ExecSpec as_agent;
  as_agent.cmd = {"sh", "-c",
                  "stat -c '%u %a' hello.txt; cat hello.txt; echo \"$KITGATE_PROBE $EXTRA\"; "
                  "id -u; echo oops >&2; exit 3"};
  as_agent.user = "1000";
  as_agent.working_dir = "/home/agent";
  as_agent.env = {"EXTRA=more"};
  std::string streamed;
  auto result = docker_->execStreaming(*id, as_agent, [&](OutputStream s, std::string_view d) {
    if (s == OutputStream::kStdout) streamed.append(d);
  });
  ASSERT_TRUE(result.isOk()) << result.status().message();
  EXPECT_EQ(result->exit_code, 3);
  EXPECT_EQ(result->stdout_text, "1000 640\nhello from kitgate\nyes more\n1000\n");
  EXPECT_EQ(result->stderr_text, "oops\n");
  EXPECT_EQ(streamed, result->stdout_text);

  ASSERT_TRUE(docker_->stopContainer(*id, std::chrono::seconds(5)).isOk());
  auto code = docker_->waitContainer(*id);
  ASSERT_TRUE(code.isOk()) << code.status().message();
  auto stopped = docker_->inspectContainer(*id);
  ASSERT_TRUE(stopped.isOk());
  EXPECT_FALSE((*stopped)->state.running);
  EXPECT_TRUE(docker_->stopContainer(*id, std::chrono::seconds(1)).isOk());  // already stopped

  // Exec into a stopped container is a conflict, not a hang.
  EXPECT_FALSE(docker_->exec(*id, ExecSpec{{"true"}}).isOk());

  auto listed = docker_->listContainers({label()});
  ASSERT_TRUE(listed.isOk());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, spec.name);

  ASSERT_TRUE(docker_->removeContainer(*id, true).isOk());
  ASSERT_TRUE(docker_->removeContainer(*id, true).isOk());  // gone already
  ASSERT_TRUE(docker_->removeNetwork(network->id).isOk());
  ASSERT_TRUE(docker_->removeVolume(vol.name, false).isOk());
  ASSERT_TRUE(docker_->removeImage(image, true).isOk());

  EXPECT_TRUE(docker_->listContainers({label()})->empty());
  EXPECT_TRUE(docker_->listNetworks({label()})->empty());
  EXPECT_TRUE(docker_->listVolumes({label()})->empty());
  EXPECT_FALSE(docker_->inspectImage(image)->has_value());
  EXPECT_FALSE(docker_->inspectNetwork(network->id)->has_value());
  EXPECT_FALSE(docker_->inspectContainer(*id)->has_value());
}

TEST_F(DockerDaemon, MissingImageIsNamedInTheError) {
  ContainerSpec spec;
  spec.image = "kitgate-no-such-image:" + runId();
  spec.labels = labels();
  auto id = docker_->createContainer(spec);
  ASSERT_FALSE(id.isOk());
  EXPECT_NE(id.status().message().find("not found (HTTP 404)"), std::string::npos) << id.status().message();
  EXPECT_NE(id.status().message().find(spec.image), std::string::npos);
}

TEST_F(DockerDaemon, AttachGivesARawTty) {
  ContainerSpec spec;
  spec.image = "kitgate-test-agent:latest";
  spec.labels = labels();
  spec.cmd = std::vector<std::string>{"/bin/sh"};
  spec.tty = true;
  spec.open_stdin = true;
  auto id = docker_->createContainer(spec);
  ASSERT_TRUE(id.isOk()) << id.status().message();
  auto stream = docker_->attach(*id, AttachOptions{});
  ASSERT_TRUE(stream.isOk()) << stream.status().message();
  ASSERT_TRUE(docker_->startContainer(*id).isOk());
  ASSERT_TRUE(docker_->resizeTty(*id, 30, 100).isOk());

  const std::string input = "stty size; echo kg-$((40+2)); exit 7\n";
  ASSERT_EQ(::write(stream->fd.get(), input.data(), input.size()), static_cast<ssize_t>(input.size()));
  std::string seen = stream->pending;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{stream->fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(stream->fd.get(), buf, sizeof(buf));
    if (n <= 0) break;  // the shell exited and the daemon hung up
    seen.append(buf, static_cast<size_t>(n));
  }
  EXPECT_NE(seen.find("kg-42"), std::string::npos) << seen;
  EXPECT_NE(seen.find("30 100"), std::string::npos) << seen;
  auto code = docker_->waitContainer(*id);
  ASSERT_TRUE(code.isOk()) << code.status().message();
  EXPECT_EQ(*code, 7);
}

}  // namespace
}  // namespace kitgate::docker
