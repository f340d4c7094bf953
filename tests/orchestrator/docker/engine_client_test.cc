// EngineClient against a scripted fake daemon on a unix socket: the requests
// it sends and how it reads answers, streams and failures. No dockerd.
#include "orchestrator/docker/engine_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/orchestrator/docker/fake_engine_server.h"

namespace kitgate::docker {
namespace {

using nlohmann::json;
using testing::FakeAnswer;
using testing::FakeEngineServer;
using testing::FakeRequest;
using testing::jsonAnswer;
using testing::muxFrame;
using testing::streamAnswer;

constexpr const char* kVersion141 =
    R"({"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"})";

// Answers GET /version with `version_body`, then hands other requests to `rest`.
FakeEngineServer::Handler daemon(std::function<FakeAnswer(const FakeRequest&)> rest,
                                 std::string version_body = kVersion141) {
  return [rest = std::move(rest), version_body](const FakeRequest& r) {
    if (r.method == "GET" && r.target == "/version") return jsonAnswer(200, version_body);
    return rest(r);
  };
}

std::unique_ptr<DockerClient> connect(FakeEngineServer& server) {
  auto client = connectDocker(server.socketPath());
  EXPECT_TRUE(client.isOk()) << client.status().message();
  return client.isOk() ? std::move(*client) : nullptr;
}

TEST(EngineClient, UsesNegotiatedVersionPrefix) {
  FakeEngineServer server(
      daemon([](const FakeRequest&) { return jsonAnswer(200, "OK"); },
             R"({"Version":"26.0","ApiVersion":"1.45","MinAPIVersion":"1.24"})"));
  auto client = connect(server);
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->ping().isOk());
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].target, "/version");
  EXPECT_EQ(requests[1].target, "/v1.41/_ping");
  EXPECT_EQ(client->version()->negotiated_api_version, "1.41");
}

TEST(EngineClient, OlderDaemonGetsItsOwnVersion) {
  FakeEngineServer server(
      daemon([](const FakeRequest&) { return jsonAnswer(200, "OK"); },
             R"({"Version":"19.03","ApiVersion":"1.40","MinAPIVersion":"1.12"})"));
  auto client = connect(server);
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->ping().isOk());
  EXPECT_EQ(server.requests().back().target, "/v1.40/_ping");
}

TEST(EngineClient, UnreachableDaemonAsksIfDockerdRuns) {
  const std::string path =
      (std::filesystem::temp_directory_path() / "kitgate-no-such-dir" / "docker.sock").string();
  auto client = connectDocker(path);
  ASSERT_FALSE(client.isOk());
  const std::string m = client.status().message();
  EXPECT_EQ(m.rfind("cannot reach the Docker daemon at unix://" + path + ": ", 0), 0u) << m;
  EXPECT_NE(m.find("Is dockerd running?"), std::string::npos) << m;
}

TEST(EngineClient, DockerHostMustBeUnixSocket) {
  ::setenv("DOCKER_HOST", "tcp://127.0.0.1:2375", 1);
  auto tcp = dockerSocketFromEnvironment();
  ::setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock", 1);
  auto unix_path = dockerSocketFromEnvironment();
  ::unsetenv("DOCKER_HOST");
  auto fallback = dockerSocketFromEnvironment();
  EXPECT_FALSE(tcp.isOk());
  ASSERT_TRUE(unix_path.isOk());
  EXPECT_EQ(*unix_path, "/run/user/1000/docker.sock");
  ASSERT_TRUE(fallback.isOk());
  EXPECT_EQ(*fallback, "/var/run/docker.sock");
}

TEST(EngineClient, RemoteDaemonsAndContextsAreRefusedSayingWhich) {
  const std::pair<const char*, const char*> hosts[] = {
      {"tcp://127.0.0.1:2375", "(a tcp daemon) is refused"},
      {"ssh://me@build-box", "(a ssh daemon) is refused"},
      {"npipe:////./pipe/docker_engine", "(a npipe daemon) is refused"},
      {"127.0.0.1:2375", "(an address without a scheme) is refused"},
      {"unix://", "is refused"},
  };
  for (const auto& [host, words] : hosts) {
    ::setenv("DOCKER_HOST", host, 1);
    auto r = dockerSocketFromEnvironment();
    ASSERT_FALSE(r.isOk()) << host;
    EXPECT_NE(r.status().message().find(std::string("DOCKER_HOST=") + host), std::string::npos);
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("unix socket"), std::string::npos);
  }
  ::unsetenv("DOCKER_HOST");
  ::setenv("DOCKER_CONTEXT", "colima", 1);
  auto context = dockerSocketFromEnvironment();
  ::setenv("DOCKER_CONTEXT", "default", 1);
  auto default_context = dockerSocketFromEnvironment();
  ::unsetenv("DOCKER_CONTEXT");
  ASSERT_FALSE(context.isOk());
  EXPECT_NE(context.status().message().find("DOCKER_CONTEXT=colima is refused"), std::string::npos);
  EXPECT_TRUE(default_context.isOk());
}

TEST(EngineClient, MissingImageIsNulloptAndPresentImageIsRead) {
  FakeEngineServer server(daemon([](const FakeRequest& r) {
    if (r.target == "/v1.41/images/ghcr.io/x/missing:1/json") {
      return jsonAnswer(404, R"({"message":"No such image: ghcr.io/x/missing:1"})");
    }
    return jsonAnswer(200, R"({"Id":"sha256:1","RepoTags":["kitgate-test-agent:latest"],
        "Config":{"User":"","Labels":{"org.kitgate.content-hash":"abc"}}})");
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  auto missing = client->inspectImage("ghcr.io/x/missing:1");
  ASSERT_TRUE(missing.isOk()) << missing.status().message();
  EXPECT_FALSE(missing->has_value());
  auto present = client->inspectImage("kitgate-test-agent:latest");
  ASSERT_TRUE(present.isOk());
  ASSERT_TRUE(present->has_value());
  EXPECT_EQ((*present)->labels.at("org.kitgate.content-hash"), "abc");
}

TEST(EngineClient, CreateContainerConflictCarriesDockerMessage) {
  FakeEngineServer server(daemon([](const FakeRequest&) {
    return jsonAnswer(
        409,
        R"({"message":"Conflict. The container name \"/amp\" is already in use by container \"c0ffee\"."})");
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  ContainerSpec spec;
  spec.name = "amp";
  spec.image = "img";
  auto id = client->createContainer(spec);
  ASSERT_FALSE(id.isOk());
  EXPECT_EQ(
      id.status().message(),
      "create container \"amp\": conflict (HTTP 409): Conflict. The container name \"/amp\" is "
      "already in use by container \"c0ffee\".");
  const FakeRequest sent = server.requests().back();
  EXPECT_EQ(sent.method, "POST");
  EXPECT_EQ(sent.target, "/v1.41/containers/create?name=amp");
  EXPECT_EQ(sent.headers.at("content-type"), "application/json");
  EXPECT_EQ(json::parse(sent.body)["Image"], "img");
}

TEST(EngineClient, CreateContainerFromMissingImageNamesTheImage) {
  FakeEngineServer server(daemon([](const FakeRequest&) {
    return jsonAnswer(404, R"({"message":"No such image: nope:latest"})");
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  ContainerSpec spec;
  spec.image = "nope:latest";
  auto id = client->createContainer(spec);
  ASSERT_FALSE(id.isOk());
  EXPECT_NE(id.status().message().find("image \"nope:latest\" not found (HTTP 404): No such image"),
            std::string::npos)
      << id.status().message();
}

TEST(EngineClient, ExecDemultiplexesOutputAndReadsExitCode) {
  int inspections = 0;
  FakeEngineServer server(daemon([&](const FakeRequest& r) {
    if (r.target == "/v1.41/containers/c1/exec") return jsonAnswer(201, R"({"Id":"e1"})");
    if (r.target == "/v1.41/exec/e1/start") {
      return streamAnswer(
          "application/vnd.docker.raw-stream",
          muxFrame(1, "1000\n") + muxFrame(2, "warning: x\n") + muxFrame(1, "done\n"));
    }
    if (r.target == "/v1.41/exec/e1/json") {
      // The exit code shows up only on the second look, as on a busy daemon.
      return jsonAnswer(200, ++inspections == 1 ? R"({"Running":true,"ExitCode":null})"
                                                : R"({"Running":false,"ExitCode":3})");
    }
    return jsonAnswer(500, R"({"message":"unexpected"})");
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  ExecSpec spec;
  spec.cmd = {"id", "-u", "agent"};
  spec.user = "1000";
  auto result = client->exec("c1", spec);
  ASSERT_TRUE(result.isOk()) << result.status().message();
  EXPECT_EQ(result->exit_code, 3);
  EXPECT_EQ(result->stdout_text, "1000\ndone\n");
  EXPECT_EQ(result->stderr_text, "warning: x\n");
  EXPECT_FALSE(result->truncated);
  auto requests = server.requests();
  ASSERT_GE(requests.size(), 4u);
  EXPECT_EQ(json::parse(requests[1].body)["User"], "1000");
  EXPECT_EQ(json::parse(requests[2].body), json({{"Detach", false}, {"Tty", false}}));
}

TEST(EngineClient, ExecStreamingHandsOutputInOrder) {
  FakeEngineServer server(daemon([](const FakeRequest& r) {
    if (r.target == "/v1.41/containers/c1/exec") return jsonAnswer(201, R"({"Id":"e2"})");
    if (r.target == "/v1.41/exec/e2/start") {
      return streamAnswer("application/vnd.docker.raw-stream",
                          muxFrame(1, "a") + muxFrame(2, "b") + muxFrame(1, "c"));
    }
    return jsonAnswer(200, R"({"Running":false,"ExitCode":0})");
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  std::string order;
  ExecSpec spec;
  spec.cmd = {"sh", "-c", "x"};
  auto result = client->execStreaming("c1", spec, [&](OutputStream s, std::string_view d) {
    order += (s == OutputStream::kStdout ? "out:" : "err:") + std::string(d) + ";";
  });
  ASSERT_TRUE(result.isOk()) << result.status().message();
  EXPECT_EQ(order, "out:a;err:b;out:c;");
  EXPECT_EQ(result->exit_code, 0);
}

TEST(EngineClient, ExecInStoppedContainerIsConflict) {
  FakeEngineServer server(daemon([](const FakeRequest&) {
    return jsonAnswer(409, R"({"message":"Container c1 is not running"})");
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  auto result = client->exec("c1", ExecSpec{{"true"}});
  ASSERT_FALSE(result.isOk());
  EXPECT_EQ(result.status().message(),
            "exec in container \"c1\": conflict (HTTP 409): Container c1 is not running");
}

TEST(EngineClient, PullReportsProgressThenStreamError) {
  FakeEngineServer server(daemon([](const FakeRequest&) {
    return streamAnswer(
        "application/json",
        "{\"status\":\"Pulling fs layer\",\"id\":\"l1\"}\n"
        "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":5,\"total\":10},\"id\":\"l1\"}"
        "\n"
        "{\"errorDetail\":{\"message\":\"unexpected EOF\"},\"error\":\"unexpected EOF\"}\n");
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  std::vector<PullProgress> seen;
  Status s =
      client->pullImage("example.test/agent:1", [&](const PullProgress& p) { seen.push_back(p); });
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.message(), "pull image \"example.test/agent:1\": unexpected EOF");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].current_bytes, 5);
  EXPECT_EQ(seen[1].total_bytes, 10);
  EXPECT_EQ(server.requests().back().target,
            "/v1.41/images/create?fromImage=example.test%2Fagent&tag=1");
}

TEST(EngineClient, PullDeniedIsHttpError) {
  FakeEngineServer server(daemon([](const FakeRequest&) {
    return jsonAnswer(404,
                      R"({"message":"pull access denied for nope, repository does not exist"})");
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  Status s = client->pullImage("nope", nullptr);
  EXPECT_EQ(s.message(),
            "pull image \"nope\": not found (HTTP 404): pull access denied for nope, "
            "repository does not exist");
}

TEST(EngineClient, PullSendsTheRegistryLoginAndSaysWhatARefusalMeans) {
  FakeEngineServer server(daemon([](const FakeRequest& r) {
    auto auth = r.headers.find("x-registry-auth");
    if (auth == r.headers.end()) {
      return jsonAnswer(500, R"({"message":"Head \"http://127.0.0.1:5000/v2/x/manifests/1\": )"
                             R"(no basic auth credentials"})");
    }
    if (auth->second != "c2VjcmV0") {
      return jsonAnswer(500, R"({"message":"unauthorized: authentication required"})");
    }
    return streamAnswer("application/json", "{\"status\":\"Pull complete\",\"id\":\"l1\"}\n");
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  std::vector<std::string> asked;
  std::string login = "c2VjcmV0";
  client->setRegistryAuth([&](const std::string& image) {
    asked.push_back(image);
    return image.rfind("127.0.0.1:5000/", 0) == 0 ? login : std::string();
  });
  EXPECT_TRUE(client->pullImage("127.0.0.1:5000/x@sha256:" + std::string(64, 'a'), nullptr).isOk());
  EXPECT_EQ(server.requests().back().headers["x-registry-auth"], "c2VjcmV0");
  EXPECT_EQ(asked.back(), "127.0.0.1:5000/x@sha256:" + std::string(64, 'a'));

  Status anonymous = client->pullImage("other.test/x:1", nullptr);
  EXPECT_EQ(server.requests().back().headers.count("x-registry-auth"), 0u);
  EXPECT_NE(anonymous.message().find("no basic auth credentials; the registry needs a login: run "
                                     "'kitgate secret set --registry HOST' or 'docker login HOST'"),
            std::string::npos)
      << anonymous.message();

  login = "d3Jvbmc";
  Status wrong = client->pullImage("127.0.0.1:5000/x:1", nullptr);
  EXPECT_NE(wrong.message().find("unauthorized: authentication required; the registry refused the "
                                 "login kitgate sent"),
            std::string::npos)
      << wrong.message();
  EXPECT_EQ(wrong.message().find("d3Jvbmc"), std::string::npos);
}

TEST(EngineClient, ImportStreamsTarballAndReturnsId) {
  const std::filesystem::path tarball = std::filesystem::temp_directory_path() /
                                        ("kitgate-import-" + std::to_string(::getpid()) + ".tar");
  const std::string content(200000, 'r');
  std::ofstream(tarball, std::ios::binary) << content;
  FakeEngineServer server(daemon([](const FakeRequest&) {
    return streamAnswer("application/json", "{\"status\":\"sha256:feed\"}\r\n");
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  ImportSpec spec;
  spec.tarball_path = tarball.string();
  spec.repository = "kitgate-test-agent";
  auto id = client->importImage(spec);
  std::filesystem::remove(tarball);
  ASSERT_TRUE(id.isOk()) << id.status().message();
  EXPECT_EQ(*id, "sha256:feed");
  const FakeRequest sent = server.requests().back();
  EXPECT_EQ(sent.target, "/v1.41/images/create?fromSrc=-&repo=kitgate-test-agent&tag=latest");
  EXPECT_EQ(sent.headers.at("content-type"), "application/x-tar");
  EXPECT_EQ(sent.body, content);
}

TEST(EngineClient, ImportOfMissingFileFailsBeforeSending) {
  FakeEngineServer server(daemon([](const FakeRequest&) { return jsonAnswer(200, "{}"); }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  ImportSpec spec;
  spec.tarball_path = "/nonexistent/rootfs.tar";
  spec.repository = "x";
  auto id = client->importImage(spec);
  ASSERT_FALSE(id.isOk());
  EXPECT_NE(id.status().message().find("/nonexistent/rootfs.tar"), std::string::npos);
  EXPECT_EQ(server.requests().size(), 1u);  // only /version
}

TEST(EngineClient, LoadImageSurfacesDaemonStreamError) {
  const std::filesystem::path tarball = std::filesystem::temp_directory_path() /
                                        ("kitgate-load-" + std::to_string(::getpid()) + ".tar");
  std::ofstream(tarball, std::ios::binary) << "not a docker save archive";
  FakeEngineServer server(daemon([](const FakeRequest&) {
    return streamAnswer(
        "application/json",
        "{\"errorDetail\":{\"message\":\"unexpected EOF\"},\"error\":\"unexpected EOF\"}\n");
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  Status s = client->loadImage(tarball.string());
  std::filesystem::remove(tarball);
  EXPECT_EQ(s.message(), "load image archive " + tarball.string() + ": unexpected EOF");
  const FakeRequest sent = server.requests().back();
  EXPECT_EQ(sent.target, "/v1.41/images/load?quiet=1");
  EXPECT_EQ(sent.body, "not a docker save archive");
}

TEST(EngineClient, PutArchiveSendsTarToEncodedPath) {
  FakeEngineServer server(daemon([](const FakeRequest&) { return jsonAnswer(200, ""); }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  const std::string tar(1024, '\0');
  ASSERT_TRUE(client->putArchive("c1", "/home/agent", tar).isOk());
  const FakeRequest sent = server.requests().back();
  EXPECT_EQ(sent.method, "PUT");
  EXPECT_EQ(sent.target, "/v1.41/containers/c1/archive?path=%2Fhome%2Fagent");
  EXPECT_EQ(sent.headers.at("content-type"), "application/x-tar");
  EXPECT_EQ(sent.body, tar);
}

TEST(EngineClient, CreateNetworkReadsBackDockerChosenGateway) {
  FakeEngineServer server(daemon([](const FakeRequest& r) {
    if (r.target == "/v1.41/networks/create") return jsonAnswer(201, R"({"Id":"n1","Warning":""})");
    return jsonAnswer(200, R"({"Id":"n1","Name":"kitgate-amp","Internal":true,
        "IPAM":{"Config":[{"Subnet":"172.19.0.0/16","Gateway":"172.19.0.1"}]}})");
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  NetworkSpec spec;
  spec.name = "kitgate-amp";
  auto n = client->createNetwork(spec);
  ASSERT_TRUE(n.isOk()) << n.status().message();
  EXPECT_EQ(n->gateway, "172.19.0.1");
  EXPECT_EQ(n->subnet, "172.19.0.0/16");
  auto requests = server.requests();
  EXPECT_EQ(json::parse(requests[1].body)["Internal"], true);
  EXPECT_EQ(requests[2].target, "/v1.41/networks/n1");
}

TEST(EngineClient, ListsFilterByLabel) {
  FakeEngineServer server(daemon([](const FakeRequest& r) {
    if (r.target.rfind("/v1.41/containers/json", 0) == 0) {
      return jsonAnswer(200, R"([{"Id":"c1","Names":["/amp"],"Image":"img","State":"running",
          "Labels":{"kitgate.sandbox":"amp"}}])");
    }
    return jsonAnswer(200, R"({"Volumes":[{"Name":"v1","Driver":"local","Labels":{"a":"b"}}]})");
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  auto containers = client->listContainers({"kitgate.sandbox=amp"});
  ASSERT_TRUE(containers.isOk()) << containers.status().message();
  ASSERT_EQ(containers->size(), 1u);
  EXPECT_EQ((*containers)[0].name, "amp");
  EXPECT_EQ((*containers)[0].state, "running");
  auto volumes = client->listVolumes({"a=b"});
  ASSERT_TRUE(volumes.isOk());
  ASSERT_EQ(volumes->size(), 1u);
  auto requests = server.requests();
  EXPECT_EQ(
      requests[1].target,
      "/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22kitgate.sandbox%3Damp%22%5D%7D");
  EXPECT_EQ(requests[2].target, "/v1.41/volumes?filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D");
}

TEST(EngineClient, RemovingWhatIsGoneSucceeds) {
  FakeEngineServer server(daemon([](const FakeRequest&) {
    return jsonAnswer(404, R"({"message":"No such container: c9"})");
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  EXPECT_TRUE(client->removeContainer("c9", true).isOk());
  EXPECT_TRUE(client->removeNetwork("n9").isOk());
  EXPECT_TRUE(client->removeVolume("v9", false).isOk());
  EXPECT_EQ(server.requests()[1].target, "/v1.41/containers/c9?v=1&force=1");
  EXPECT_EQ(server.requests()[1].method, "DELETE");
  // Starting, however, needs the container.
  Status start = client->startContainer("c9");
  EXPECT_EQ(start.message(), "start container \"c9\": not found (HTTP 404): No such container: c9");
}

TEST(EngineClient, StartAndStopTreatNotModifiedAsDone) {
  FakeEngineServer server(daemon([](const FakeRequest&) {
    return FakeAnswer{"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n", nullptr};
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  EXPECT_TRUE(client->startContainer("c1").isOk());
  EXPECT_TRUE(client->stopContainer("c1", std::chrono::seconds(3)).isOk());
  EXPECT_EQ(server.requests().back().target, "/v1.41/containers/c1/stop?t=3");
}

TEST(EngineClient, WaitReturnsExitCode) {
  FakeEngineServer server(daemon(
      [](const FakeRequest&) { return jsonAnswer(200, R"({"StatusCode":137,"Error":null})"); }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  auto code = client->waitContainer("c1");
  ASSERT_TRUE(code.isOk()) << code.status().message();
  EXPECT_EQ(*code, 137);
  EXPECT_EQ(server.requests().back().target, "/v1.41/containers/c1/wait?condition=not-running");
}

TEST(EngineClient, AttachHijacksTheConnection) {
  FakeEngineServer server(daemon([](const FakeRequest& r) {
    if (r.target.find("/attach?") == std::string::npos) return jsonAnswer(200, "");
    FakeAnswer a;
    a.bytes =
        "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
        "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nprompt$ ";
    a.then = [](int fd) {  // echo one line back, upper-cased, then hang up
      char buf[64];
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      std::string reply(buf, static_cast<size_t>(std::max<ssize_t>(n, 0)));
      for (char& c : reply) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      (void)::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
    };
    return a;
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  auto stream = client->attach("c1", AttachOptions{});
  ASSERT_TRUE(stream.isOk()) << stream.status().message();
  EXPECT_EQ(stream->pending, "prompt$ ");
  ASSERT_EQ(::write(stream->fd.get(), "ls\n", 3), 3);
  std::string echoed;
  char buf[64];
  for (ssize_t n; (n = ::read(stream->fd.get(), buf, sizeof(buf))) > 0;)
    echoed.append(buf, static_cast<size_t>(n));
  EXPECT_EQ(echoed, "LS\n");
  EXPECT_EQ(server.requests().back().target,
            "/v1.41/containers/c1/attach?stream=1&stdin=1&stdout=1&stderr=1");
  EXPECT_EQ(server.requests().back().headers.at("upgrade"), "tcp");
  ASSERT_TRUE(client->resizeTty("c1", 40, 120).isOk());
  EXPECT_EQ(server.requests().back().target, "/v1.41/containers/c1/resize?h=40&w=120");
}

TEST(EngineClient, AttachToMissingContainerIsError) {
  FakeEngineServer server(daemon([](const FakeRequest&) {
    return jsonAnswer(404, R"({"message":"No such container: c404"})");
  }));
  auto client = connect(server);
  ASSERT_TRUE(client);
  auto stream = client->attach("c404", AttachOptions{});
  ASSERT_FALSE(stream.isOk());
  EXPECT_EQ(stream.status().message(),
            "attach to container \"c404\": not found (HTTP 404): No such container: c404");
}

}  // namespace
}  // namespace kitgate::docker
