// The pure planner: kit + run facts -> network, container, setup steps,
// registration and credential routes.
#include "orchestrator/sandbox/plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "orchestrator/sandbox/oauth_plan.h"

namespace kitgate::sandbox {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "kgtAAAABBBBCCCCDDDD1234";

std::string sourceDir() {
  const char* dir = std::getenv("KITGATE_SOURCE_DIR");
  return dir ? dir : KITGATE_TEST_SOURCE_DIR;
}

kit::Kit loadKit(const std::string& ref) {
  kit::LoadResult r = kit::load(ref);
  EXPECT_TRUE(r.ok()) << ref;
  return r.kit;
}

kit::Kit kitFromSpec(std::string_view spec) {
  kit::LoadResult r = kit::loadSpecBytes(spec);
  EXPECT_TRUE(r.ok());
  for (const kit::Diagnostic* d : r.errors()) ADD_FAILURE_AT("spec", d->line) << d->message;
  return r.kit;
}

PlanInput ampInput() {
  PlanInput in;
  in.kit = loadKit(sourceDir() + "/configs/kits/amp");
  in.name = "amp-proj";
  in.workspace = "/home/me/proj";
  in.agent = "amp";
  in.kit_ref = "./amp/";
  in.subnet = "172.30.16.0/24";
  in.gateway = "172.30.16.1";
  in.token = kToken;
  return in;
}

SandboxPlan mustPlan(const PlanInput& in) {
  auto plan = planSandbox(in);
  EXPECT_TRUE(plan.isOk()) << plan.status().message();
  return plan.isOk() ? *plan : SandboxPlan{};
}

std::vector<std::string> stages(const SandboxPlan& plan) {
  std::vector<std::string> out;
  for (const SetupStep& s : plan.steps) {
    if (out.empty() || out.back() != s.stage) out.push_back(s.stage);
  }
  return out;
}

const SetupStep* findStep(const SandboxPlan& plan, std::string_view stage) {
  for (const SetupStep& s : plan.steps) {
    if (s.stage == stage) return &s;
  }
  return nullptr;
}

TEST(SandboxPlan, AmpProxyVariablesCarryNameTokenAndGateway) {
  SandboxPlan plan = mustPlan(ampInput());
  const std::string url = std::string("http://amp-proj:") + kToken + "@172.30.16.1:3128";
  EXPECT_EQ(plan.proxy_url, url);
  for (const char* var : {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}) {
    EXPECT_THAT(plan.container.env, Contains(std::string(var) + "=" + url)) << var;
  }
  EXPECT_THAT(plan.container.env, Contains("NO_PROXY=localhost,127.0.0.1,::1"));
  EXPECT_THAT(plan.container.env, Contains("no_proxy=localhost,127.0.0.1,::1"));
  EXPECT_THAT(plan.container.env, Contains("NODE_USE_ENV_PROXY=1"));
  EXPECT_THAT(plan.container.env, Contains("WORKSPACE_DIR=/home/me/proj"));
}

TEST(SandboxPlan, CaVariablesPointAtTheBundle) {
  PlanInput in = ampInput();
  in.ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  SandboxPlan plan = mustPlan(in);
  for (const char* var : {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT"}) {
    EXPECT_THAT(plan.container.env, Contains(std::string(var) + "=" + std::string(kCaBundlePath)));
  }
  EXPECT_THAT(plan.container.env, Contains("NODE_EXTRA_CA_CERTS=" + std::string(kCaCertPath)));
  const SetupStep* copy = findStep(plan, "ca");
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->kind, StepKind::kArchive);
  EXPECT_EQ(copy->dir, "/");
  EXPECT_THAT(copy->tar, HasSubstr("usr/local/share/ca-certificates/kitgate.crt"));
  EXPECT_THAT(copy->tar, HasSubstr("MIIB"));
}

TEST(SandboxPlan, WithoutCaNoNodeExtraCertsButBundleStillBuilt) {
  SandboxPlan plan = mustPlan(ampInput());
  for (const std::string& e : plan.container.env) EXPECT_THAT(e, Not(HasSubstr("NODE_EXTRA_CA")));
  const SetupStep* ca = findStep(plan, "ca");
  ASSERT_NE(ca, nullptr);
  EXPECT_EQ(ca->kind, StepKind::kExec);
  EXPECT_EQ(ca->user, "0");
  EXPECT_THAT(ca->argv, Contains(std::string(kCaBundlePath)));
}

TEST(SandboxPlan, ContainerRunsWrapperAsAgentInWorkspaceOnItsNetwork) {
  SandboxPlan plan = mustPlan(ampInput());
  const docker::ContainerSpec& c = plan.container;
  EXPECT_EQ(c.name, "kitgate-amp-proj");
  EXPECT_EQ(c.image, "docker/sandbox-templates:shell-docker");
  EXPECT_EQ(c.user, "1000");
  EXPECT_EQ(c.working_dir, "/home/me/proj");
  EXPECT_EQ(c.network, "kitgate-amp-proj");
  EXPECT_EQ(c.labels.at("kitgate.sandbox"), "amp-proj");
  EXPECT_TRUE(c.tty);
  ASSERT_TRUE(c.entrypoint.has_value());
  EXPECT_EQ((*c.entrypoint)[0], "sh");
  EXPECT_THAT((*c.entrypoint)[2], HasSubstr(std::string(kStartMarker)));
  ASSERT_TRUE(c.cmd.has_value());
  EXPECT_THAT(*c.cmd, ElementsAre("amp", "--dangerously-allow-all"));
  ASSERT_EQ(c.mounts.size(), 1u);
  EXPECT_EQ(c.mounts[0].type, docker::MountType::kBind);
  EXPECT_EQ(c.mounts[0].source, "/home/me/proj");
  EXPECT_EQ(c.mounts[0].target, "/home/me/proj");
}

// Names Docker's embedded DNS does not know are forwarded only to the
// gateway, never to the host's resolvers.
TEST(SandboxPlan, ContainerDnsIsPinnedToTheGateway) {
  EXPECT_THAT(mustPlan(ampInput()).container.dns, ElementsAre("172.30.16.1"));
  PlanInput v6 = ampInput();
  v6.subnet = "fd00:30::/64";
  v6.gateway = "fd00:30::1";
  EXPECT_THAT(mustPlan(v6).container.dns, ElementsAre("fd00:30::1"));
}

TEST(SandboxPlan, NetworkIsInternalAndLabelled) {
  docker::NetworkSpec net = planNetwork("amp-proj");
  EXPECT_EQ(net.name, "kitgate-amp-proj");
  EXPECT_TRUE(net.internal);
  EXPECT_EQ(net.labels.at("kitgate.sandbox"), "amp-proj");
}

TEST(SandboxPlan, AmpInstallRunsAsDeclaredUserWithDescription) {
  SandboxPlan plan = mustPlan(ampInput());
  const SetupStep* install = findStep(plan, "install");
  ASSERT_NE(install, nullptr);
  EXPECT_EQ(install->description, "Install Amp");
  EXPECT_EQ(install->user, "1000");
  EXPECT_THAT(install->argv,
              ElementsAre("sh", "-c", "curl -fsSL https://ampcode.com/install.sh | bash"));
  EXPECT_TRUE(install->gating);
}

TEST(SandboxPlan, AgentFileGoesToWorkspaceParentWithMemory) {
  SandboxPlan plan = mustPlan(ampInput());
  const SetupStep* file = findStep(plan, "agent-file");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->dir, "/home/me");
  EXPECT_THAT(file->tar, HasSubstr("AGENTS.md"));
  EXPECT_THAT(file->tar, HasSubstr("You are running inside a Docker sandbox."));
}

TEST(SandboxPlan, RegistrationUsesSubnetTokenAndKitRules) {
  SandboxPlan plan = mustPlan(ampInput());
  EXPECT_EQ(plan.registration.name, "amp-proj");
  EXPECT_THAT(plan.registration.sources, ElementsAre("172.30.16.0/24"));
  EXPECT_EQ(plan.registration.token, kToken);
  EXPECT_THAT(plan.registration.allow, ElementsAre("ampcode.com:443", "*.ampcode.com:443"));
  EXPECT_TRUE(plan.registration.deny.empty());
}

TEST(SandboxPlan, AmpServiceAuthBecomesOneHeaderRoute) {
  SandboxPlan plan = mustPlan(ampInput());
  ASSERT_EQ(plan.routes.size(), 1u);
  EXPECT_EQ(plan.routes[0],
            (CredentialRoute{"amp", {"ampcode.com"}, "Authorization", "Bearer %s", ""}));
}

constexpr char kFullSpec[] = R"(schemaVersion: "2"
kind: sandbox
name: full
sandbox:
  image: example/full:1
  entrypoint: [agent, --x]
  command:
    default: [--batch]
    interactive: [--tui]
agentInstructions:
  filename: CLAUDE.md
  content: "Be brief."
permissions:
  network:
    allow: ["api.example.com:443", "basic.example.com:443"]
    deny: ["evil.example.com"]
credentials:
  - service: svc
    apiKey:
      name: SVC_KEY
      proxyManaged: true
      inject:
        - {domain: api.example.com, header: X-Api-Key, format: "%s"}
        - {domain: basic.example.com, username: token}
environment:
  variables:
    FOO: bar
setup:
  install:
    - command: "apt-get install -y jq"
    - command: "echo hi"
      user: "1000"
      description: Say hi
  files:
    - path: /home/agent/.config/x.json
      content: '{"dir": "${WORKDIR}"}'
      mode: "0600"
      onlyIfMissing: true
  startup:
    - command: [daemon, --serve]
      background: true
volumes:
  - path: /home/agent/.cache
  - path: /scratch
    type: tmpfs
)";

PlanInput fullInput() {
  PlanInput in = ampInput();
  in.kit = kitFromSpec(kFullSpec);
  in.kit.files.push_back({kit::FileTarget::kHome, ".config/tool/rc", 0644, "home-file"});
  in.kit.files.push_back({kit::FileTarget::kWorkspace, "NOTES.md", 0644, "ws-file"});
  in.name = "full-1";
  return in;
}

TEST(SandboxPlan, StepsFollowTheCreationSequence) {
  SandboxPlan plan = mustPlan(fullInput());
  EXPECT_THAT(stages(plan), ElementsAre("ca", "files/home", "install", "setup.files", "startup",
                                        "files/workspace", "agent-file", "start"));
  EXPECT_EQ(plan.steps.back().stage, "start");
  EXPECT_THAT(plan.steps.back().argv, Contains(std::string(kStartMarker)));
}

TEST(SandboxPlan, InstallDefaultsToRootAndKeepsDeclarationOrder) {
  SandboxPlan plan = mustPlan(fullInput());
  std::vector<std::pair<std::string, std::string>> installs;
  for (const SetupStep& s : plan.steps) {
    if (s.stage == "install") installs.emplace_back(s.user, s.argv.back());
  }
  EXPECT_THAT(installs,
              ElementsAre(std::pair<std::string, std::string>{"0", "apt-get install -y jq"},
                          std::pair<std::string, std::string>{"1000", "echo hi"}));
}

TEST(SandboxPlan, FilesAreOwnedByTheAgentInTheirTargets) {
  SandboxPlan plan = mustPlan(fullInput());
  const SetupStep* home = findStep(plan, "files/home");
  ASSERT_NE(home, nullptr);
  EXPECT_EQ(home->dir, "/home/agent");
  EXPECT_THAT(home->tar, HasSubstr(".config/tool/rc"));
  EXPECT_THAT(home->tar, HasSubstr("001750 "));  // uid 1000 in the ustar octal field
  const SetupStep* ws = findStep(plan, "files/workspace");
  ASSERT_NE(ws, nullptr);
  EXPECT_EQ(ws->dir, "/home/me/proj");
  EXPECT_THAT(ws->tar, HasSubstr("ws-file"));
}

TEST(SandboxPlan, SetupFilesExpandWorkdirAndHonourModeAndOnlyIfMissing) {
  SandboxPlan plan = mustPlan(fullInput());
  std::vector<const SetupStep*> steps;
  for (const SetupStep& s : plan.steps) {
    if (s.stage == "setup.files") steps.push_back(&s);
  }
  ASSERT_EQ(steps.size(), 3u);  // stage, copy, clean up
  EXPECT_EQ(steps[0]->kind, StepKind::kArchive);
  EXPECT_THAT(steps[0]->tar, HasSubstr(R"({"dir": "/home/me/proj"})"));
  EXPECT_EQ(steps[1]->user, "1000");
  const std::vector<std::string>& argv = steps[1]->argv;
  EXPECT_THAT(std::vector<std::string>(argv.end() - 3, argv.end()),
              ElementsAre("/home/agent/.config/x.json", "0600", "1"));
}

TEST(SandboxPlan, BackgroundStartupIsDetachedAndNonGating) {
  SandboxPlan plan = mustPlan(fullInput());
  const SetupStep* s = findStep(plan, "startup");
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->gating);
  EXPECT_EQ(s->user, "1000");
  EXPECT_EQ(s->argv[0], "sh");
  EXPECT_THAT(s->argv[2], HasSubstr("&"));
  EXPECT_THAT(std::vector<std::string>(s->argv.end() - 2, s->argv.end()),
              ElementsAre("daemon", "--serve"));
}

TEST(SandboxPlan, ProxyManagedGetsSentinelAndKitCannotSetProxyVariables) {
  PlanInput in = fullInput();
  // The loader already refuses this; the planner must not trust that alone.
  in.kit.environment["HTTPS_PROXY"] = "http://elsewhere:1";
  SandboxPlan plan = mustPlan(in);
  EXPECT_THAT(plan.container.env, Contains("SVC_KEY=proxy-managed"));
  EXPECT_THAT(plan.container.env, Contains("FOO=bar"));
  EXPECT_THAT(plan.container.env, Not(Contains("HTTPS_PROXY=http://elsewhere:1")));
  EXPECT_THAT(plan.warnings, Contains(HasSubstr("HTTPS_PROXY")));
}

TEST(SandboxPlan, PlaceholdersOverrideKitVariables) {
  PlanInput in = fullInput();
  in.placeholders = {{"FOO", "sgamp-XYZ0123456789abcd"}, {"AMP_API_KEY", "sgamp-0123456789abcdef"}};
  SandboxPlan plan = mustPlan(in);
  EXPECT_THAT(plan.container.env, Contains("FOO=sgamp-XYZ0123456789abcd"));
  EXPECT_THAT(plan.container.env, Contains("AMP_API_KEY=sgamp-0123456789abcdef"));
  EXPECT_THAT(plan.container.env, Not(Contains("FOO=bar")));
}

TEST(SandboxPlan, InteractiveTailAndUserArgsFollowEntrypoint) {
  PlanInput in = fullInput();
  in.agent_args = {"--continue"};
  EXPECT_THAT(mustPlan(in).agent_argv, ElementsAre("agent", "--x", "--tui", "--continue"));
  in.interactive = false;
  EXPECT_THAT(mustPlan(in).agent_argv, ElementsAre("agent", "--x", "--batch", "--continue"));
}

TEST(SandboxPlan, VolumesAreNamedPerSandboxAndTmpfsIsMounted) {
  PlanInput in = fullInput();
  in.persistent_home = true;
  SandboxPlan plan = mustPlan(in);
  std::vector<std::string> names;
  for (const VolumePlan& v : plan.volumes) {
    names.push_back(v.spec.name);
    EXPECT_EQ(v.spec.labels.at("kitgate.sandbox"), "full-1");
  }
  EXPECT_THAT(names, ElementsAre("kitgate-full-1-home-agent", "kitgate-full-1-home-agent-.cache"));
  bool tmpfs = std::any_of(plan.container.mounts.begin(), plan.container.mounts.end(),
                           [](const docker::Mount& m) {
                             return m.type == docker::MountType::kTmpfs && m.target == "/scratch";
                           });
  EXPECT_TRUE(tmpfs);
}

TEST(SandboxPlan, RoutesCoverHeaderAndBasicInjects) {
  SandboxPlan plan = mustPlan(fullInput());
  EXPECT_THAT(plan.routes,
              ElementsAre(CredentialRoute{"svc", {"api.example.com"}, "X-Api-Key", "%s", ""},
                          CredentialRoute{"svc", {"basic.example.com"}, "", "", "token"}));
}

struct BadInput {
  const char* what;
  void (*mutate)(PlanInput&);
  const char* message;
};

// security.privileged against the runtime: granted under gVisor (root in its
// user-space kernel), refused under runc unless the user accepts host root,
// never granted to a kit that does not ask.
TEST(SandboxPlan, PrivilegedFollowsRuntimeAndHostRootConsent) {
  struct Case {
    bool kit_asks;
    std::string runtime;
    bool allow_host_root;
    bool planned;     // a plan is made
    bool privileged;  // ... and its container is privileged
    bool warns;       // ... with a host-root warning
  };
  const Case cases[] = {
      {false, "", false, true, false, false},     {false, "runc", true, true, false, false},
      {false, "runsc", true, true, false, false}, {true, "", false, false, false, false},
      {true, "runc", false, false, false, false}, {true, "runc", true, true, true, true},
      {true, "", true, true, true, true},         {true, "runsc", false, true, true, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("kit_asks=" + std::to_string(c.kit_asks) + " runtime=" + c.runtime +
                 " allow_host_root=" + std::to_string(c.allow_host_root));
    PlanInput in = ampInput();
    in.kit.privileged = c.kit_asks;
    in.runtime = c.runtime;
    in.allow_host_root = c.allow_host_root;
    auto plan = planSandbox(in);
    ASSERT_EQ(plan.isOk(), c.planned) << (plan.isOk() ? "" : plan.status().message());
    if (!plan.isOk()) {
      EXPECT_THAT(plan.status().message(), HasSubstr("security.privileged"));
      EXPECT_THAT(plan.status().message(), HasSubstr("--allow-host-root"));
      EXPECT_THAT(plan.status().message(), HasSubstr("--runtime runsc"));
      continue;
    }
    EXPECT_EQ(plan->container.privileged, c.privileged);
    EXPECT_EQ(plan->container.runtime, c.runtime);
    bool warned = false;
    for (const std::string& w : plan->warnings)
      warned |= w.find("root on this host") != std::string::npos;
    EXPECT_EQ(warned, c.warns);
  }
}

TEST(SandboxPlan, RefusesInputsThatCannotMakeASandbox) {
  const BadInput cases[] = {
      {"bad name", [](PlanInput& in) { in.name = "Amp Proj"; }, "invalid sandbox name"},
      {"relative workspace", [](PlanInput& in) { in.workspace = "proj"; }, "not an absolute path"},
      {"no gateway", [](PlanInput& in) { in.gateway.clear(); }, "gateway"},
      {"short token", [](PlanInput& in) { in.token = "abc"; }, "token"},
      {"mixin", [](PlanInput& in) { in.kit.kind = kit::KitKind::kMixin; }, "mixin"},
  };
  for (const BadInput& c : cases) {
    PlanInput in = ampInput();
    c.mutate(in);
    auto plan = planSandbox(in);
    ASSERT_FALSE(plan.isOk()) << c.what;
    EXPECT_THAT(plan.status().message(), HasSubstr(c.message)) << c.what;
  }
}

TEST(SandboxPlan, DefaultNameIsAgentDashWorkspaceBasename) {
  const std::pair<std::pair<const char*, const char*>, const char*> cases[] = {
      {{"amp", "/home/me/proj"}, "amp-proj"},
      {{"amp", "/home/me/My Proj/"}, "amp-my-proj"},
      {{"amp", "/"}, "amp"},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(defaultSandboxName(in.first, in.second), want) << in.second;
  }
}

TEST(SandboxPlan, SeedCorpusSandboxKitsAllPlan) {
  for (const char* dir :
       {"docker__sbx-kits-contrib__amp--v1-agent", "docker__sbx-kits-contrib__amp--v2"}) {
    PlanInput in = ampInput();
    in.kit = loadKit(sourceDir() + "/tests/kitloader/corpus/" + dir);
    SandboxPlan plan = mustPlan(in);
    EXPECT_FALSE(plan.container.image.empty()) << dir;
    EXPECT_FALSE(plan.routes.empty()) << dir;
  }
}

// Every corpus kit with an OAuth credential plans its routes: the token
// endpoint and resource hosts the proxy watches, with the kit's sentinels.
TEST(SandboxPlan, CorpusOAuthKitsPlanTheirRoutes) {
  struct Case {
    const char* dir;
    const char* service;
    const char* token_host;
    std::vector<std::string> resource_hosts;
    bool passthrough;
  };
  const std::vector<Case> cases = {
      {"docker__sbx-kits-contrib__openclaw--v2-oauth",
       "anthropic",
       "platform.claude.com",
       {"api.anthropic.com"},
       false},
      {"docker__sbx-kits-contrib__testdata-v1-full", "anthropic", "platform.claude.com", {}, false},
      {"docker__sbx-kits-contrib__testdata-v2-expected",
       "anthropic",
       "platform.claude.com",
       {},
       false},
      {"docker__sbx-kits-contrib__testdata-sample-agent-v2",
       "workos",
       "api.workos.com",
       {"api.workos.com"},
       true},
  };
  for (const Case& c : cases) {
    PlanInput in = ampInput();
    in.kit = loadKit(sourceDir() + "/tests/kitloader/corpus/" + c.dir);
    in.now_ms = 1'000'000;
    SandboxPlan plan = mustPlan(in);
    ASSERT_EQ(plan.oauth.size(), 1u) << c.dir;
    const secrets::OAuthRoute& r = plan.oauth[0];
    EXPECT_EQ(r.service, c.service) << c.dir;
    EXPECT_EQ(r.token_host, c.token_host) << c.dir;
    EXPECT_EQ(r.resource_hosts, c.resource_hosts) << c.dir;
    EXPECT_EQ(r.passthrough, c.passthrough) << c.dir;
    const bool warned = std::any_of(plan.warnings.begin(), plan.warnings.end(), [](const auto& w) {
      return w.find("real OAuth tokens") != std::string::npos;
    });
    EXPECT_EQ(warned, c.passthrough) << c.dir;
    if (!c.passthrough) {
      EXPECT_EQ(r.access_sentinel, "sk-ant-oat01-proxy-managed") << c.dir;
      EXPECT_EQ(r.refresh_sentinel, "sk-ant-ort01-proxy-managed") << c.dir;
      EXPECT_EQ(r.token_path, "/v1/oauth/token") << c.dir;
      EXPECT_THAT(stages(plan), Contains("oauth")) << c.dir;
    } else {
      EXPECT_THAT(stages(plan), Not(Contains("oauth"))) << c.dir;
    }
  }
}

// The credential file the agent finds: the kit's structure with the
// sentinels, ExpiresAt a number in the future of the plan.
TEST(SandboxPlan, OAuthCredentialFileHoldsSentinelsOnly) {
  kit::Kit k = loadKit(sourceDir() + "/tests/kitloader/corpus/" +
                       "docker__sbx-kits-contrib__openclaw--v2-oauth");
  auto files = credentialFiles(k, 5'000);
  ASSERT_TRUE(files.isOk()) << files.status().message();
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ((*files)[0].path, "/home/agent/.claude/.credentials.json");
  auto j = nlohmann::json::parse((*files)[0].content);
  EXPECT_EQ(j["claudeAiOauth"]["accessToken"], "sk-ant-oat01-proxy-managed");
  EXPECT_EQ(j["claudeAiOauth"]["refreshToken"], "sk-ant-ort01-proxy-managed");
  EXPECT_EQ(j["claudeAiOauth"]["expiresAt"], 5'000);

  // The deprecated template form renders the same fields as text.
  k.credentials[0].oauth->credential_file_structure.reset();
  k.credentials[0].oauth->credential_file_template =
      R"({"a":"{{.AccessToken}}","r":"{{.RefreshToken}}","e":{{.ExpiresAt}}})";
  files = credentialFiles(k, 7);
  ASSERT_TRUE(files.isOk());
  EXPECT_EQ((*files)[0].content,
            R"({"a":"sk-ant-oat01-proxy-managed","r":"sk-ant-ort01-proxy-managed","e":7})");
}

}  // namespace
}  // namespace kitgate::sandbox
