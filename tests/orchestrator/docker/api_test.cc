// Pure wire-format tests: version negotiation, error mapping, request bodies,
// response parsing, progress lines and the multiplexed-stream demuxer.
#include "orchestrator/docker/api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "orchestrator/docker/stream_demux.h"

namespace kitgate::docker {
namespace {

using nlohmann::json;

struct NegotiationCase {
  std::string server;
  std::string expected;  // "" = error
};

TEST(ApiVersion, NegotiatesMinOfDaemonAndOurs) {
  const std::vector<NegotiationCase> cases = {
      {"1.41", "1.41"}, {"1.43", "1.41"}, {"1.50", "1.41"}, {"2.0", "1.41"},
      {"1.40", "1.40"}, {"1.25", "1.25"}, {"1.24", ""},     {"1.9", ""},
      {"", ""},         {"1", ""},        {"1.x", ""},      {"1.41.2", ""},
  };
  for (const auto& c : cases) {
    auto v = api::negotiateApiVersion(c.server);
    if (c.expected.empty()) {
      EXPECT_FALSE(v.isOk()) << c.server;
    } else {
      ASSERT_TRUE(v.isOk()) << c.server << ": " << v.status().message();
      EXPECT_EQ(*v, c.expected) << c.server;
    }
  }
}

TEST(ApiVersion, TooOldDaemonSaysUpgrade) {
  auto v = api::parseVersion(R"({"Version":"1.13.1","ApiVersion":"1.24","MinAPIVersion":"1.12"})");
  ASSERT_FALSE(v.isOk());
  EXPECT_NE(v.status().message().find("upgrade Docker"), std::string::npos) << v.status().message();
}

TEST(ApiVersion, ParsesVersionAnswer) {
  auto v = api::parseVersion(
      R"({"Version":"20.10.24+dfsg1","ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"})");
  ASSERT_TRUE(v.isOk()) << v.status().message();
  EXPECT_EQ(v->engine_version, "20.10.24+dfsg1");
  EXPECT_EQ(v->min_api_version, "1.12");
  EXPECT_EQ(v->negotiated_api_version, "1.41");
  EXPECT_EQ(v->arch, "amd64");
}

TEST(ApiVersion, MalformedVersionAnswerIsError) {
  EXPECT_FALSE(api::parseVersion("<html>").isOk());
}

struct ErrorCase {
  long status;
  std::string body;
  std::string expected;
};

TEST(ApiError, MapsStatusAndIncludesDockerMessage) {
  const std::vector<ErrorCase> cases = {
      {404, R"({"message":"No such image: nope:latest"})",
       "inspect: not found (HTTP 404): No such image: nope:latest"},
      {409, R"({"message":"Conflict. The container name \"/amp\" is already in use"})",
       "inspect: conflict (HTTP 409): Conflict. The container name \"/amp\" is already in use"},
      {400, R"({"message":"invalid reference format"})", "inspect: bad request (HTTP 400): invalid reference format"},
      {500, R"({"message":"driver failed"})", "inspect: daemon error (HTTP 500): driver failed"},
      {502, "plain text\n", "inspect: unexpected answer (HTTP 502): plain text"},
      {500, "", "inspect: daemon error (HTTP 500)"},
  };
  for (const auto& c : cases) {
    Status s = api::errorFromResponse("inspect", c.status, c.body);
    ASSERT_FALSE(s.isOk());
    EXPECT_EQ(s.message(), c.expected);
  }
}

TEST(ApiQuery, PercentEncodesReservedCharacters) {
  EXPECT_EQ(api::percentEncode("a-b_c.d~e"), "a-b_c.d~e");
  EXPECT_EQ(api::percentEncode("/home/agent x"), "%2Fhome%2Fagent%20x");
  EXPECT_EQ(api::percentEncode("{\"a\":1}"), "%7B%22a%22%3A1%7D");
}

TEST(ApiQuery, LabelFilterIsEncodedJson) {
  EXPECT_EQ(api::labelFilterQuery({}), "");
  EXPECT_EQ(api::labelFilterQuery({"kitgate.sandbox=amp"}),
            "filters=" + api::percentEncode(R"({"label":["kitgate.sandbox=amp"]})"));
}

TEST(ApiQuery, PullSplitsNameAndTag) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"debian", "fromImage=debian&tag=latest"},
      {"debian:12", "fromImage=debian&tag=12"},
      {"ghcr.io/a/b:v1", "fromImage=ghcr.io%2Fa%2Fb&tag=v1"},
      {"localhost:5000/img", "fromImage=localhost%3A5000%2Fimg&tag=latest"},
      {"img@sha256:abc", "fromImage=img&tag=sha256%3Aabc"},
  };
  for (const auto& [ref, expected] : cases) EXPECT_EQ(api::pullQuery(ref), expected) << ref;
}

TEST(ApiQuery, ImportCarriesRepoTagAndChanges) {
  ImportSpec spec;
  spec.repository = "kitgate-test-agent";
  spec.tag = "v1";
  spec.changes = {"LABEL a=b", "CMD [\"sh\"]"};
  EXPECT_EQ(api::importQuery(spec),
            "fromSrc=-&repo=kitgate-test-agent&tag=v1&changes=LABEL%20a%3Db&changes=CMD%20%5B%22sh%22%5D");
}

TEST(ApiBody, ContainerCreateCarriesEverySpecField) {
  ContainerSpec spec;
  spec.image = "kitgate-test-agent:latest";
  spec.env = {"HTTP_PROXY=http://172.30.0.1:3128", "AMP_API_KEY=kitgate-cs-x"};
  spec.user = "1000";
  spec.working_dir = "/work";
  spec.labels = {{"kitgate.sandbox", "amp"}};
  spec.entrypoint = std::vector<std::string>{};
  spec.cmd = std::vector<std::string>{"sleep", "infinity"};
  spec.tty = true;
  spec.open_stdin = true;
  spec.mounts = {{MountType::kBind, "/src/ws", "/src/ws", false},
                 {MountType::kVolume, "kitgate-amp-home", "/home/agent", false},
                 {MountType::kTmpfs, "", "/tmp", false}};
  spec.network = "kitgate-amp";
  spec.network_aliases = {"agent"};
  spec.extra_hosts = {"proxy:172.30.0.1"};
  spec.runtime = "runsc";
  spec.privileged = true;
  spec.dns = {"172.30.0.1"};
  json j = json::parse(api::containerCreateBody(spec));
  EXPECT_EQ(j["Image"], "kitgate-test-agent:latest");
  EXPECT_EQ(j["Env"].size(), 2u);
  EXPECT_EQ(j["User"], "1000");
  EXPECT_EQ(j["WorkingDir"], "/work");
  EXPECT_EQ(j["Labels"]["kitgate.sandbox"], "amp");
  EXPECT_TRUE(j["Entrypoint"].is_array());
  EXPECT_TRUE(j["Entrypoint"].empty());
  EXPECT_EQ(j["Cmd"], json({"sleep", "infinity"}));
  EXPECT_EQ(j["Tty"], true);
  EXPECT_EQ(j["OpenStdin"], true);
  const json& host = j["HostConfig"];
  EXPECT_EQ(host["NetworkMode"], "kitgate-amp");
  ASSERT_EQ(host["Mounts"].size(), 3u);
  EXPECT_EQ(host["Mounts"][0]["Type"], "bind");
  EXPECT_EQ(host["Mounts"][0]["Source"], "/src/ws");
  EXPECT_EQ(host["Mounts"][1]["Type"], "volume");
  EXPECT_EQ(host["Mounts"][1]["Target"], "/home/agent");
  EXPECT_EQ(host["Mounts"][2]["Type"], "tmpfs");
  EXPECT_FALSE(host["Mounts"][2].contains("Source"));
  EXPECT_EQ(host["ExtraHosts"][0], "proxy:172.30.0.1");
  EXPECT_EQ(host["Runtime"], "runsc");
  EXPECT_EQ(host["Privileged"], true);
  EXPECT_EQ(host["Dns"], json({"172.30.0.1"}));
  EXPECT_EQ(j["NetworkingConfig"]["EndpointsConfig"]["kitgate-amp"]["Aliases"][0], "agent");
}

TEST(ApiBody, ContainerCreateLeavesImageDefaultsUnset) {
  ContainerSpec spec;
  spec.image = "img";
  json j = json::parse(api::containerCreateBody(spec));
  EXPECT_FALSE(j.contains("Entrypoint"));
  EXPECT_FALSE(j.contains("Cmd"));
  EXPECT_FALSE(j.contains("User"));
  EXPECT_FALSE(j.contains("NetworkingConfig"));
  EXPECT_FALSE(j["HostConfig"].contains("NetworkMode"));
  // The daemon's default runtime, unprivileged.
  EXPECT_FALSE(j["HostConfig"].contains("Runtime"));
  EXPECT_FALSE(j["HostConfig"].contains("Privileged"));
  EXPECT_FALSE(j["HostConfig"].contains("Dns"));
}

TEST(ApiBody, InternalNetworkWithChosenSubnet) {
  NetworkSpec spec;
  spec.name = "kitgate-amp";
  spec.labels = {{"kitgate.sandbox", "amp"}};
  spec.ipam = IpamConfig{"172.30.5.0/24", "172.30.5.1"};
  json j = json::parse(api::networkCreateBody(spec));
  EXPECT_EQ(j["Internal"], true);
  EXPECT_EQ(j["Driver"], "bridge");
  EXPECT_EQ(j["IPAM"]["Config"][0]["Subnet"], "172.30.5.0/24");
  EXPECT_EQ(j["IPAM"]["Config"][0]["Gateway"], "172.30.5.1");
  spec.ipam.reset();
  EXPECT_FALSE(json::parse(api::networkCreateBody(spec)).contains("IPAM"));
}

TEST(ApiBody, ExecCreateAttachesOutputOnly) {
  ExecSpec spec;
  spec.cmd = {"id", "-u", "agent"};
  spec.user = "1000";
  json j = json::parse(api::execCreateBody(spec));
  EXPECT_EQ(j["Cmd"], json({"id", "-u", "agent"}));
  EXPECT_EQ(j["User"], "1000");
  EXPECT_EQ(j["AttachStdout"], true);
  EXPECT_EQ(j["AttachStderr"], true);
  EXPECT_EQ(j["AttachStdin"], false);
  EXPECT_EQ(j["Tty"], false);
  EXPECT_FALSE(j.contains("Env"));
}

TEST(ApiParse, NetworkInspectReadsIpamAndContainers) {
  auto n = api::parseNetworkInspect(R"({"Name":"kg","Id":"abc","Driver":"bridge","Internal":true,
      "IPAM":{"Driver":"default","Options":null,"Config":[{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}]},
      "Containers":{"c1":{"Name":"x"}},"Labels":{"kitgate.sandbox":"amp"}})");
  ASSERT_TRUE(n.isOk()) << n.status().message();
  EXPECT_EQ(n->id, "abc");
  EXPECT_TRUE(n->internal);
  EXPECT_EQ(n->subnet, "172.18.0.0/16");
  EXPECT_EQ(n->gateway, "172.18.0.1");
  EXPECT_EQ(n->container_ids, std::vector<std::string>{"c1"});
  EXPECT_EQ(n->labels.at("kitgate.sandbox"), "amp");
}

TEST(ApiParse, ContainerInspectToleratesNullFields) {
  auto c = api::parseContainerInspect(R"({"Id":"c1","Name":"/amp","Image":"sha256:1",
      "State":{"Status":"exited","Running":false,"ExitCode":3,"Pid":0},
      "Config":{"Image":"img","Labels":null,"Env":null,"User":"","Tty":true},
      "NetworkSettings":{"Networks":{"kg":{"IPAddress":"172.18.0.2"}}}})");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->name, "amp");
  EXPECT_EQ(c->state.status, "exited");
  EXPECT_EQ(c->state.exit_code, 3);
  EXPECT_TRUE(c->labels.empty());
  EXPECT_TRUE(c->tty);
  EXPECT_EQ(c->network_ips.at("kg"), "172.18.0.2");
}

TEST(ApiParse, WaitResultCarriesStatusOrError) {
  auto ok = api::parseWaitResult(R"({"StatusCode":7,"Error":null})");
  ASSERT_TRUE(ok.isOk());
  EXPECT_EQ(*ok, 7);
  EXPECT_FALSE(api::parseWaitResult(R"({"StatusCode":0,"Error":{"Message":"boom"}})").isOk());
  EXPECT_FALSE(api::parseWaitResult(R"({})").isOk());
}

TEST(ApiParse, ExecInspectExitCodeOnlyWhenPresent) {
  auto running = api::parseExecInspect(R"({"Running":true,"ExitCode":null})");
  ASSERT_TRUE(running.isOk());
  EXPECT_TRUE(running->running);
  EXPECT_FALSE(running->exit_code.has_value());
  auto done = api::parseExecInspect(R"({"Running":false,"ExitCode":42})");
  ASSERT_TRUE(done.isOk());
  EXPECT_EQ(done->exit_code, 42);
}

TEST(ApiParse, WrongTypesAreAnErrorNotACrash) {
  EXPECT_FALSE(api::parseId(R"([1,2])").isOk());
  EXPECT_FALSE(api::parseId(R"({"Id":5})").isOk());
  auto list = api::parseContainerList(R"({"not":"a list"})");
  ASSERT_TRUE(list.isOk());
  EXPECT_TRUE(list->empty());
}

constexpr std::string_view kPullStream =
    "{\"status\":\"Pulling from library/debian\",\"id\":\"12\"}\n"
    "{\"status\":\"Pulling fs layer\",\"progressDetail\":{},\"id\":\"aa11\"}\n"
    "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1024,\"total\":4096},"
    "\"progress\":\"[==>  ]\",\"id\":\"aa11\"}\n"
    "{\"status\":\"Pull complete\",\"progressDetail\":{},\"id\":\"aa11\"}\n"
    "{\"status\":\"Status: Downloaded newer image for debian:12\"}\n";

TEST(ProgressStream, ParsesLinesSplitAtEveryByte) {
  for (size_t split = 0; split <= kPullStream.size(); ++split) {
    std::vector<PullProgress> seen;
    api::ProgressStream stream("pull", [&](const PullProgress& p) { seen.push_back(p); });
    ASSERT_TRUE(stream.feed(kPullStream.substr(0, split)).isOk());
    ASSERT_TRUE(stream.feed(kPullStream.substr(split)).isOk());
    ASSERT_TRUE(stream.finish().isOk());
    ASSERT_EQ(seen.size(), 5u) << "split at " << split;
    EXPECT_EQ(seen[2].status, "Downloading");
    EXPECT_EQ(seen[2].layer_id, "aa11");
    EXPECT_EQ(seen[2].current_bytes, 1024);
    EXPECT_EQ(seen[2].total_bytes, 4096);
    EXPECT_EQ(stream.lastStatus(), "Status: Downloaded newer image for debian:12");
  }
}

TEST(ProgressStream, ErrorLineFailsWithDockerText) {
  api::ProgressStream stream("pull image \"nope\"", nullptr);
  (void)stream.feed("{\"status\":\"Pulling\"}\n{\"errorDetail\":{\"message\":\"manifest unknown\"},");
  Status s = stream.feed("\"error\":\"manifest unknown\"}\n");
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.message(), "pull image \"nope\": manifest unknown");
  EXPECT_FALSE(stream.finish().isOk());
}

TEST(ProgressStream, LastLineWithoutNewlineIsParsedByFinish) {
  api::ProgressStream stream("import", nullptr);
  ASSERT_TRUE(stream.feed("{\"status\":\"sha256:abc\"}").isOk());
  EXPECT_EQ(stream.lastStatus(), "");
  ASSERT_TRUE(stream.finish().isOk());
  EXPECT_EQ(stream.lastStatus(), "sha256:abc");
}

std::string frame(int stream, std::string_view payload) {
  std::string f(8, '\0');
  f[0] = static_cast<char>(stream);
  const auto n = static_cast<uint32_t>(payload.size());
  f[4] = static_cast<char>(n >> 24);
  f[5] = static_cast<char>((n >> 16) & 0xFF);
  f[6] = static_cast<char>((n >> 8) & 0xFF);
  f[7] = static_cast<char>(n & 0xFF);
  return f + std::string(payload);
}

TEST(StreamDemuxer, SplitsStdoutAndStderrAcrossAnyChunking) {
  const std::string big(70000, 'x');  // a length needing three header bytes
  const std::string wire = frame(1, "out1\n") + frame(2, "err1\n") + frame(1, big) + frame(0, "") +
                           frame(2, "err2") + frame(3, "daemon says no");
  for (size_t split = 0; split <= wire.size(); split += (split < 64 ? 1 : 997)) {
    std::string out;
    std::string err;
    StreamDemuxer demux(/*tty=*/false);
    const OutputFn sink = [&](OutputStream s, std::string_view d) {
      (s == OutputStream::kStdout ? out : err).append(d);
    };
    demux.feed(std::string_view(wire).substr(0, split), sink);
    demux.feed(std::string_view(wire).substr(split), sink);
    EXPECT_EQ(out, "out1\n" + big) << "split at " << split;
    EXPECT_EQ(err, "err1\nerr2daemon says no") << "split at " << split;
    EXPECT_FALSE(demux.midFrame());
  }
}

TEST(StreamDemuxer, ReportsTruncatedFrame) {
  StreamDemuxer demux(false);
  std::string out;
  demux.feed(frame(1, "hello").substr(0, 10), [&](OutputStream, std::string_view d) { out.append(d); });
  EXPECT_EQ(out, "he");
  EXPECT_TRUE(demux.midFrame());
}

TEST(StreamDemuxer, TtyStreamIsRawStdout) {
  StreamDemuxer demux(/*tty=*/true);
  std::string out;
  demux.feed(std::string("\x01\x00\x00\x00", 4) + "raw", [&](OutputStream s, std::string_view d) {
    EXPECT_EQ(s, OutputStream::kStdout);
    out.append(d);
  });
  EXPECT_EQ(out, std::string("\x01\x00\x00\x00", 4) + "raw");
}

TEST(TailBuffer, KeepsTheLastBytes) {
  TailBuffer tail(5);
  tail.append("abc");
  EXPECT_EQ(tail.text(), "abc");
  EXPECT_FALSE(tail.truncated());
  tail.append("defg");
  EXPECT_EQ(tail.text(), "cdefg");
  EXPECT_TRUE(tail.truncated());
  tail.append("0123456789");
  EXPECT_EQ(tail.text(), "56789");
}

}  // namespace
}  // namespace kitgate::docker
