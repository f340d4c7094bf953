#include "proxy/secrets/store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <optional>
#include <fstream>
#include <string>
#include <vector>

#include "proxy/http/message.h"
#include "proxy/common/base64.h"
#include "proxy/tls/name_constraints.h"
#include "tests/support/subprocess.h"

namespace kitgate::secrets {
namespace {

namespace fs = std::filesystem;

// Every secret value any test here writes; no error text may contain one.
const std::vector<std::string> kAllSecrets = {
    "amp-GLOBAL-1111111111", "amp-DEV1-2222222222", "dd-api-3333333333", "dd-app-4444444444",
    "reg-5555555555",        "custom-6666666666",   "custom-dev1-7777777", "bad\nvalue-8888888",
    "esc-9999999999",        "wild-aaaaaaaaaa",     "ip-bbbbbbbbbb",
};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::create("secrets-store");
    ASSERT_TRUE(dir.isOk()) << dir.status().message();
    dir_.emplace(std::move(dir).value());
  }

  std::string path(const std::string& rel) const { return (fs::path(dir_->path()) / rel).string(); }

  std::string write(const std::string& rel, const std::string& text, unsigned mode = 0600) {
    const std::string p = path(rel);
    fs::create_directories(fs::path(p).parent_path());
    std::ofstream(p, std::ios::trunc) << text;
    fs::permissions(p, static_cast<fs::perms>(mode));
    return p;
  }

  std::shared_ptr<const Store> loadOk() {
    auto store = loadStore(dir_->path());
    EXPECT_TRUE(store.isOk()) << store.status().message();
    return store.isOk() ? *store : nullptr;
  }

  // The error text, after checking that it names no secret value.
  std::string loadError() {
    auto store = loadStore(dir_->path());
    EXPECT_FALSE(store.isOk());
    if (store.isOk()) return "";
    const std::string msg = store.status().message();
    for (const std::string& s : kAllSecrets) {
      EXPECT_EQ(msg.find(s), std::string::npos) << "secret leaked into: " << msg;
    }
    return msg;
  }

  std::optional<testing::TempDir> dir_;
};

policy::Host host(const char* text) { return *policy::normalizeHost(text); }

std::string injected(const SandboxCredentials* c, const char* h, const char* header) {
  if (c == nullptr) return "(no sandbox)";
  auto plan = c->planFor(host(h));
  if (!plan) return "(no plan)";
  std::string out;
  for (const HeaderInjection& i : plan->injections) {
    if (http::equalsIgnoreCase(i.name, header)) out += (out.empty() ? "" : "|") + i.value;
  }
  return out;
}

constexpr const char* kAmpSecrets = R"(services:
  - {service: amp, scope: global, value: "amp-GLOBAL-1111111111"}
  - {service: amp, scope: "sandbox:dev1", value: "amp-DEV1-2222222222"}
)";
constexpr const char* kAmpRoutes = R"(routes:
  - {service: amp, domains: ["ampcode.com"], header: Authorization, format: "Bearer %s"}
)";

TEST_F(StoreTest, AbsentFilesGiveAnEmptyStore) {
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->empty());
  EXPECT_EQ(store->forSandbox("default"), nullptr);
}

TEST_F(StoreTest, SecretsFilePermissionsAreChecked) {
  const struct {
    unsigned mode;
    bool ok;
  } cases[] = {{0600, true}, {0400, true}, {0644, false}, {0640, false}, {0604, false}, {0660, false},
               {0602, false}};
  for (const auto& c : cases) {
    write("secrets.yaml", kAmpSecrets, c.mode);
    auto store = loadStore(dir_->path());
    EXPECT_EQ(store.isOk(), c.ok) << std::oct << c.mode;
    if (!c.ok && !store.isOk()) {
      EXPECT_NE(store.status().message().find("secrets.yaml: error: holds secrets but is accessible by "
                                              "group or others"),
                std::string::npos)
          << store.status().message();
    }
  }
}

TEST_F(StoreTest, SecretsFileMustBeARegularFile) {
  fs::create_directories(path("secrets.yaml"));
  EXPECT_NE(loadError().find("secrets.yaml: error: not a regular file"), std::string::npos);
  fs::remove(path("secrets.yaml"));
  ASSERT_EQ(::mkfifo(path("secrets.yaml").c_str(), 0600), 0);
  EXPECT_NE(loadError().find("not a regular file"), std::string::npos);  // and does not block
}

TEST_F(StoreTest, ADanglingSymlinkFailsTheLoadInsteadOfReadingAsAbsent) {
  // A Kubernetes ..data swap caught half-way, or a hand-made link to a removed file.
  for (const char* rel : {"secrets.yaml", "credentials/dev1.yaml"}) {
    SCOPED_TRACE(rel);
    fs::create_directories(fs::path(path(rel)).parent_path());
    fs::create_symlink("gone/nowhere.yaml", path(rel));
    EXPECT_NE(loadError().find(std::string(rel) + ": error: cannot open: a dangling symlink"), std::string::npos)
        << loadError();
    fs::remove(path(rel));
  }
}

TEST_F(StoreTest, SymlinkToAPrivateFileIsAccepted) {
  // Kubernetes Secret volumes present files as symlinks into ..data/.
  write("..data/secrets.yaml", kAmpSecrets, 0600);
  fs::create_symlink("..data/secrets.yaml", path("secrets.yaml"));
  write("credentials/dev1.yaml", kAmpRoutes);
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(injected(store->forSandbox("dev1"), "ampcode.com", "authorization"), "Bearer amp-DEV1-2222222222");
}

TEST_F(StoreTest, SandboxScopedServiceSecretWinsOverGlobal) {
  write("secrets.yaml", kAmpSecrets);
  write("credentials/dev1.yaml", kAmpRoutes);
  write("credentials/dev2.yaml", kAmpRoutes);
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(injected(store->forSandbox("dev1"), "ampcode.com", "authorization"), "Bearer amp-DEV1-2222222222");
  EXPECT_EQ(injected(store->forSandbox("dev2"), "ampcode.com", "authorization"), "Bearer amp-GLOBAL-1111111111");
  // A sandbox without routes has nothing to intercept.
  EXPECT_EQ(store->forSandbox("dev3"), nullptr);
}

TEST_F(StoreTest, RouteWithoutValueIsNotIntercepted) {
  write("secrets.yaml", "services: []\n");
  write("credentials/dev1.yaml", kAmpRoutes);
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->forSandbox("dev1"), nullptr);
}

TEST_F(StoreTest, CustomSecretScopes) {
  write("secrets.yaml", R"(custom:
  - {scope: global, hosts: ["ampcode.com"], env: AMP_API_KEY, placeholder: "sgamp-PLACEHOLDER", value: "custom-6666666666"}
  - {scope: "sandbox:dev1", hosts: ["ampcode.com"], env: AMP_API_KEY, placeholder: "sgamp-PLACEHOLDER", value: "custom-dev1-7777777"}
  - {scope: "sandbox:dev1", hosts: ["only.dev1.example"], env: DEV1_ONLY, placeholder: "sgdev1-PLACEHOLDER", value: "custom-dev1-7777777"}
)");
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  auto value = [&](const char* sandbox, const char* h) -> std::string {
    const SandboxCredentials* c = store->forSandbox(sandbox);
    if (c == nullptr) return "(no sandbox)";
    auto plan = c->planFor(host(h));
    if (!plan) return "(no plan)";
    std::string out;
    for (const Substitution& s : plan->substitutions) out += s.placeholder + "=" + s.value + ";";
    return out;
  };
  EXPECT_EQ(value("dev1", "ampcode.com"), "sgamp-PLACEHOLDER=custom-dev1-7777777;");  // sandbox wins
  EXPECT_EQ(value("dev2", "ampcode.com"), "sgamp-PLACEHOLDER=custom-6666666666;");    // global applies
  EXPECT_EQ(value("anyone", "ampcode.com"), "sgamp-PLACEHOLDER=custom-6666666666;");
  EXPECT_EQ(value("dev1", "only.dev1.example"), "sgdev1-PLACEHOLDER=custom-dev1-7777777;");
  EXPECT_EQ(value("dev2", "only.dev1.example"), "(no plan)");
}

TEST_F(StoreTest, PlanForMatchesExactWildcardAndIpPatterns) {
  write("secrets.yaml", R"(services:
  - {service: svc, scope: global, value: "wild-aaaaaaaaaa"}
)");
  write("credentials/default.yaml", R"(routes:
  - service: svc
    domains: [api.example.com, "*.one.example", "**.deep.example", 192.0.2.7, "[2001:db8::1]", "API.Upper.Example."]
    header: X-Api-Key
    format: "%s"
)");
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  const SandboxCredentials* c = store->forSandbox("default");
  ASSERT_NE(c, nullptr);
  const struct {
    const char* host;
    bool planned;
  } cases[] = {
      {"api.example.com", true},     {"API.EXAMPLE.COM.", true},   {"x.api.example.com", false},
      {"example.com", false},        {"a.one.example", true},      {"a.b.one.example", false},
      {"one.example", false},        {"a.deep.example", true},     {"a.b.c.deep.example", true},
      {"deep.example", false},       {"192.0.2.7", true},          {"192.0.2.8", false},
      {"[2001:db8::1]", true},       {"[2001:db8::2]", false},     {"api.upper.example", true},
      {"other.test", false},         {"notdeep.example", false},
  };
  for (const auto& tc : cases) {
    auto plan = c->planFor(host(tc.host));
    EXPECT_EQ(plan != nullptr, tc.planned) << tc.host;
    if (plan) {
      ASSERT_EQ(plan->injections.size(), 1u) << tc.host;
      EXPECT_EQ(plan->injections[0].value, "wild-aaaaaaaaaa");
    }
  }
  EXPECT_EQ(c->interceptPatterns(),
            (std::vector<std::string>{"api.example.com", "*.one.example", "**.deep.example", "192.0.2.7",
                                      "2001:db8::1", "api.upper.example"}));
}

TEST_F(StoreTest, InterceptPatternsBuildNameConstraintsThatPermitEveryPlannedHost) {
  write("secrets.yaml", "services:\n  - {service: svc, scope: global, value: \"wild-aaaaaaaaaa\"}\n");
  write("credentials/default.yaml", R"(routes:
  - {service: svc, domains: [api.example.com, "*.one.example", "**.deep.example", 192.0.2.7, "[2001:db8::1]"], header: X-K, format: "%s"}
)");
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  const SandboxCredentials* c = store->forSandbox("default");
  ASSERT_NE(c, nullptr);
  auto constraints = tls::nameConstraintsFor(c->interceptPatterns());
  ASSERT_TRUE(constraints.isOk()) << constraints.status().message();
  for (const char* h : {"api.example.com", "a.one.example", "a.b.deep.example", "192.0.2.7", "[2001:db8::1]",
                        "other.example", "one.example", "192.0.2.8"}) {
    const policy::Host parsed = host(h);
    if (c->planFor(parsed)) {
      EXPECT_TRUE(constraints->permits(parsed.text)) << h;
    } else {
      EXPECT_FALSE(constraints->permits(parsed.text)) << h;  // nothing here is below a planned pattern
    }
  }
}

// Docker's crush kit routes its AWS credential to every Bedrock region.
TEST_F(StoreTest, MiddleWildcardPlansExactlyOneLabelAtItsPosition) {
  write("secrets.yaml", "services:\n  - {service: aws, scope: global, value: \"wild-aaaaaaaaaa\"}\n");
  write("credentials/default.yaml", R"(routes:
  - {service: aws, domains: ["bedrock-runtime.*.amazonaws.com"], header: X-K, format: "%s"}
)");
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  const SandboxCredentials* c = store->forSandbox("default");
  ASSERT_NE(c, nullptr);
  const struct {
    const char* host;
    bool planned;
  } cases[] = {
      {"bedrock-runtime.us-east-1.amazonaws.com", true},
      {"BEDROCK-RUNTIME.eu-west-1.amazonaws.com.", true},
      {"bedrock-runtime.amazonaws.com", false},
      {"bedrock-runtime.a.b.amazonaws.com", false},
      {"s3.us-east-1.amazonaws.com", false},
      {"x.bedrock-runtime.us-east-1.amazonaws.com", false},
  };
  for (const auto& tc : cases) EXPECT_EQ(c->planFor(host(tc.host)) != nullptr, tc.planned) << tc.host;
  EXPECT_EQ(c->interceptPatterns(), std::vector<std::string>{"bedrock-runtime.*.amazonaws.com"});
}

TEST_F(StoreTest, ExactHostPlansArePrecomputedAndShared) {
  write("secrets.yaml", kAmpSecrets);
  write("credentials/dev1.yaml", kAmpRoutes);
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  const SandboxCredentials* c = store->forSandbox("dev1");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->planFor(host("ampcode.com")).get(), c->planFor(host("AmpCode.com")).get());
}

TEST_F(StoreTest, AllRoutesOnAHostApplyAndTheLaterWinsOnOneHeader) {
  write("secrets.yaml", R"(services:
  - {service: dd-api, scope: global, value: "dd-api-3333333333"}
  - {service: dd-app, scope: global, value: "dd-app-4444444444"}
  - {service: amp, scope: global, value: "amp-GLOBAL-1111111111"}
)");
  write("credentials/dev1.yaml", R"(routes:
  - {service: dd-api, domains: [api.datadoghq.com], header: DD-API-KEY, format: "%s"}
  - {service: dd-app, domains: [api.datadoghq.com], header: DD-APPLICATION-KEY, format: "%s"}
  - {service: dd-api, domains: [both.example, "*.wild.example"], header: Authorization, format: "First %s"}
  - {service: amp, domains: [both.example, "**.wild.example"], header: authorization, format: "Second %s"}
)");
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  const SandboxCredentials* c = store->forSandbox("dev1");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(injected(c, "api.datadoghq.com", "dd-api-key"), "dd-api-3333333333");
  EXPECT_EQ(injected(c, "api.datadoghq.com", "dd-application-key"), "dd-app-4444444444");
  EXPECT_EQ(injected(c, "both.example", "authorization"), "Second amp-GLOBAL-1111111111");
  // Two wildcard patterns overlap on a.wild.example: merged, later wins.
  EXPECT_EQ(injected(c, "a.wild.example", "authorization"), "Second amp-GLOBAL-1111111111");
  EXPECT_EQ(injected(c, "a.b.wild.example", "authorization"), "Second amp-GLOBAL-1111111111");
}

TEST_F(StoreTest, ExactHostAlsoGetsWildcardRoutes) {
  write("secrets.yaml", R"(services:
  - {service: dd-api, scope: global, value: "dd-api-3333333333"}
  - {service: dd-app, scope: global, value: "dd-app-4444444444"}
)");
  write("credentials/dev1.yaml", R"(routes:
  - {service: dd-api, domains: ["**.example.org"], header: X-Wild, format: "%s"}
  - {service: dd-app, domains: [api.example.org], header: X-Exact, format: "%s"}
)");
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  const SandboxCredentials* c = store->forSandbox("dev1");
  EXPECT_EQ(injected(c, "api.example.org", "x-wild"), "dd-api-3333333333");
  EXPECT_EQ(injected(c, "api.example.org", "x-exact"), "dd-app-4444444444");
  EXPECT_EQ(injected(c, "b.example.org", "x-exact"), "");
}

TEST_F(StoreTest, BasicUsernameRouteBuildsAuthorizationBasic) {
  write("secrets.yaml", "services:\n  - {service: registry, scope: global, value: \"reg-5555555555\"}\n");
  write("credentials/dev1.yaml",
        "routes:\n  - {service: registry, domains: [pkgs.example.com], username: token}\n");
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(injected(store->forSandbox("dev1"), "pkgs.example.com", "authorization"),
            "Basic " + base64Encode("token:reg-5555555555"));
}

TEST_F(StoreTest, BasicRouteAcceptsTheFormatKitsWrite) {
  // kitloader folds `scheme: basic` into username + format "%s".
  write("secrets.yaml", "services:\n  - {service: registry, scope: global, value: \"reg-5555555555\"}\n");
  write("credentials/dev1.yaml", R"(routes:
  - {service: registry, domains: [a.example], username: token, format: "%s"}
  - {service: registry, domains: [b.example], username: token, format: "pre-%s", header: X-Basic}
)");
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(injected(store->forSandbox("dev1"), "a.example", "authorization"),
            "Basic " + base64Encode("token:reg-5555555555"));
  EXPECT_EQ(injected(store->forSandbox("dev1"), "b.example", "x-basic"),
            "Basic " + base64Encode("token:pre-reg-5555555555"));
}

TEST_F(StoreTest, FormatPercentEscapes) {
  write("secrets.yaml", "services:\n  - {service: s, scope: global, value: \"amp-GLOBAL-1111111111\"}\n");
  write("credentials/dev1.yaml",
        "routes:\n  - {service: s, domains: [a.example], header: X-K, format: \"100%% %s\"}\n");
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(injected(store->forSandbox("dev1"), "a.example", "x-k"), "100% amp-GLOBAL-1111111111");
}

TEST_F(StoreTest, RoutingOnlyRouteInjectsNothing) {
  write("secrets.yaml", kAmpSecrets);
  write("credentials/dev1.yaml", "routes:\n  - {service: amp, domains: [ampcode.com]}\n");
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->forSandbox("dev1"), nullptr);
}

TEST_F(StoreTest, ToStringNeverShowsValues) {
  write("secrets.yaml", R"(services:
  - {service: amp, scope: global, value: "amp-GLOBAL-1111111111"}
custom:
  - {scope: global, hosts: [ampcode.com], env: AMP_API_KEY, placeholder: "sgamp-PLACEHOLDER", value: "custom-6666666666"}
)");
  write("credentials/dev1.yaml", kAmpRoutes);
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  auto plan = store->forSandbox("dev1")->planFor(host("ampcode.com"));
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(plan->toString(), "inject Authorization (amp); substitute sgamp-PLACEHOLDER (AMP_API_KEY)");
}

TEST_F(StoreTest, ScrubRulesCoverEverySecretInScope) {
  write("secrets.yaml", R"(services:
  - {service: amp, scope: global, value: "amp-GLOBAL-1111111111"}
  - {service: registry, scope: "sandbox:dev1", value: "reg-5555555555"}
  - {service: other, scope: "sandbox:dev2", value: "dd-api-3333333333"}
custom:
  - {scope: global, hosts: [ampcode.com], env: AMP_API_KEY, placeholder: "sgamp-PLACEHOLDER", value: "custom-6666666666"}
)");
  write("credentials/dev1.yaml", "routes:\n  - {service: registry, domains: [pkgs.example.com], username: tok}\n");
  auto store = loadOk();
  ASSERT_NE(store, nullptr);
  const SandboxCredentials* c = store->forSandbox("dev1");
  ASSERT_NE(c, nullptr);
  std::map<std::string, std::string> rules;
  for (const ScrubRule& r : c->scrubRules()) rules[r.secret] = r.replacement;
  EXPECT_EQ(rules["custom-6666666666"], "sgamp-PLACEHOLDER");
  EXPECT_EQ(rules["amp-GLOBAL-1111111111"], "proxy-managed");
  EXPECT_EQ(rules["reg-5555555555"], "proxy-managed");
  EXPECT_EQ(rules[base64Encode("tok:reg-5555555555")], base64Encode("tok:proxy-managed"));
  EXPECT_EQ(rules.count("dd-api-3333333333"), 0u);  // another sandbox's secret
}

struct ErrorCase {
  const char* name;
  const char* file;  // relative to the state directory
  const char* text;
  const char* want;  // substring of the error text, including file:line:column
};

TEST_F(StoreTest, ErrorsNameFileLineAndColumn) {
  const ErrorCase cases[] = {
      {"yaml syntax", "secrets.yaml", "services: [\n", "secrets.yaml:2:1: error: end of sequence flow not found"},
      {"yaml escape in a value", "secrets.yaml",
       "services:\n  - {service: a, scope: global, value: \"esc-9999999999\\q\"}\n",
       "secrets.yaml:2:"},
      {"unknown key", "secrets.yaml", "service: []\n",
       "secrets.yaml:1:1: error: unknown key (expected one of: services, custom)"},
      {"missing value", "secrets.yaml", "services:\n  - {service: amp, scope: global}\n",
       "secrets.yaml:2:5: error: missing key \"value\""},
      {"empty value", "secrets.yaml", "services:\n  - {service: amp, scope: global, value: \"\"}\n",
       "secrets.yaml:2:42: error: secret value is empty"},
      {"value with newline", "secrets.yaml",
       "services:\n  - {service: amp, scope: global, value: \"bad\\nvalue-8888888\"}\n",
       "secrets.yaml:2:42: error: secret value contains a control character"},
      {"value with trailing space", "secrets.yaml",
       "services:\n  - {service: amp, scope: global, value: \"esc-9999999999 \"}\n",
       "secrets.yaml:2:42: error: secret value starts or ends with whitespace"},
      {"secret pasted into scope", "secrets.yaml",
       "services:\n  - {service: amp, scope: \"esc-9999999999\", value: x}\n",
       "secrets.yaml:2:27: error: invalid scope (expected global or sandbox:<name>)"},
      {"secret pasted as a key", "secrets.yaml",
       "services:\n  - {service: amp, scope: global, wild-aaaaaaaaaa: x, value: y}\n",
       "secrets.yaml:2:35: error: unknown key (expected one of: service, scope, value)"},
      {"bad scope", "secrets.yaml", "services:\n  - {service: amp, scope: everyone, value: x}\n",
       "secrets.yaml:2:27: error: invalid scope (expected global or sandbox:<name>)"},
      {"duplicate service", "secrets.yaml",
       "services:\n  - {service: amp, scope: global, value: \"amp-GLOBAL-1111111111\"}\n"
       "  - {service: amp, scope: global, value: \"amp-DEV1-2222222222\"}\n",
       "secrets.yaml:3:5: error: duplicate secret for the same service and scope (first at line 2)"},
      {"short placeholder", "secrets.yaml",
       "custom:\n  - {scope: global, hosts: [a.example], env: A, placeholder: abc, value: \"custom-6666666666\"}\n",
       "secrets.yaml:2:62: error: placeholder must be at least 8 characters"},
      {"sentinel placeholder", "secrets.yaml",
       "custom:\n  - {scope: global, hosts: [a.example], env: A, placeholder: proxy-managed, value: v}\n",
       "secrets.yaml:2:62: error: placeholder cannot be (part of) the sentinel"},
      {"bad env", "secrets.yaml",
       "custom:\n  - {scope: global, hosts: [a.example], env: 1A, placeholder: sgamp-123456, value: v}\n",
       "secrets.yaml:2:46: error: invalid env name (a shell identifier)"},
      {"glob host", "secrets.yaml",
       "custom:\n  - {scope: global, hosts: [\"api?.example\"], env: A, placeholder: sgamp-123456, value: v}\n",
       "secrets.yaml:2:30: error: invalid host: glob patterns cannot be intercepted"},
      {"host with port", "credentials/dev1.yaml",
       "routes:\n  - {service: a, domains: [\"api.example:443\"], header: X-K, format: \"%s\"}\n",
       "dev1.yaml:2:40: error: invalid host \"api.example:443\": credential hosts take no port"},
      {"any host", "credentials/dev1.yaml",
       "routes:\n  - {service: a, domains: [\"**\"], header: X-K, format: \"%s\"}\n",
       "dev1.yaml:2:29: error: invalid host \"**\": \"**\" would intercept every host"},
      {"cidr", "credentials/dev1.yaml",
       "routes:\n  - {service: a, domains: [10.0.0.0/8], header: X-K, format: \"%s\"}\n",
       "dev1.yaml:2:28: error: invalid host \"10.0.0.0/8\": address ranges cannot be intercepted"},
      {"bad rule syntax", "credentials/dev1.yaml",
       "routes:\n  - {service: a, domains: [\"a.**.example\"], header: X-K, format: \"%s\"}\n",
       "dev1.yaml:2:"},
      {"hop-by-hop header", "credentials/dev1.yaml",
       "routes:\n  - {service: a, domains: [a.example], header: Connection, format: \"%s\"}\n",
       "dev1.yaml:2:48: error: header \"Connection\" cannot carry a credential"},
      {"host header", "credentials/dev1.yaml",
       "routes:\n  - {service: a, domains: [a.example], header: Host, format: \"%s\"}\n",
       "dev1.yaml:2:48: error: header \"Host\" cannot carry a credential"},
      {"header name not a token", "credentials/dev1.yaml",
       "routes:\n  - {service: a, domains: [a.example], header: \"X Key\", format: \"%s\"}\n",
       "dev1.yaml:2:48: error: invalid header name"},
      {"format without %s", "credentials/dev1.yaml",
       "routes:\n  - {service: a, domains: [a.example], header: X-K, format: \"Bearer\"}\n",
       "dev1.yaml:2:61: error: format must contain exactly one %s"},
      {"format with two %s", "credentials/dev1.yaml",
       "routes:\n  - {service: a, domains: [a.example], header: X-K, format: \"%s %s\"}\n",
       "dev1.yaml:2:61: error: format must contain exactly one %s"},
      {"format with %d", "credentials/dev1.yaml",
       "routes:\n  - {service: a, domains: [a.example], header: X-K, format: \"%d %s\"}\n",
       "dev1.yaml:2:61: error: format may only use %s"},
      {"header without format", "credentials/dev1.yaml",
       "routes:\n  - {service: a, domains: [a.example], header: X-K}\n",
       "dev1.yaml:2:48: error: header needs a format"},
      {"username with colon", "credentials/dev1.yaml",
       "routes:\n  - {service: a, domains: [a.example], username: \"a:b\"}\n",
       "dev1.yaml:2:50: error: username must be non-empty, without ':'"},
      {"format without header", "credentials/dev1.yaml",
       "routes:\n  - {service: a, domains: [a.example], format: \"%s\"}\n",
       "dev1.yaml:2:48: error: format needs a header"},
      {"missing domains", "credentials/dev1.yaml", "routes:\n  - {service: a, header: X-K, format: \"%s\"}\n",
       "dev1.yaml:2:5: error: missing key \"domains\""},
      {"empty domains", "credentials/dev1.yaml",
       "routes:\n  - {service: a, domains: [], header: X-K, format: \"%s\"}\n",
       "dev1.yaml:2:27: error: \"domains\" must be a non-empty list of hosts"},
      {"bad file name", "credentials/Bad Name.yaml", "routes: []\n",
       "Bad Name.yaml: error: file name must be <sandbox>.yaml"},
      {"routes not a list", "credentials/dev1.yaml", "routes: {service: a}\n",
       "dev1.yaml:1:9: error: expected a list of routes"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    fs::remove_all(path("credentials"));
    fs::remove(path("secrets.yaml"));
    write(c.file, c.text);
    const std::string msg = loadError();
    EXPECT_NE(msg.find(c.want), std::string::npos) << msg;
  }
}

TEST_F(StoreTest, EveryProblemIsReportedAtOnce) {
  write("secrets.yaml", R"(services:
  - {service: amp, scope: nowhere, value: "amp-GLOBAL-1111111111"}
  - {service: "bad name", scope: global, value: "bad
    value-8888888"}
custom:
  - {scope: global, hosts: ["*"], env: A, placeholder: "sgamp-12345678", value: "custom-6666666666"}
)");
  write("credentials/dev1.yaml", "routes:\n  - {service: a, domains: [a.example], header: X-K, format: bad}\n");
  write("credentials/dev2.yaml", "routes:\n  - {service: a, domains: [a.example], header: TE, format: \"%s\"}\n");
  const std::string msg = loadError();
  for (const char* want : {"secrets.yaml:2:27: error: invalid scope", "secrets.yaml:3:15: error: invalid service name",
                           "secrets.yaml:6:30: error: invalid host: bare", "dev1.yaml:2:61: error: format must",
                           "dev2.yaml:2:48: error: header \"TE\" cannot"}) {
    EXPECT_NE(msg.find(want), std::string::npos) << want << "\n" << msg;
  }
}

}  // namespace
}  // namespace kitgate::secrets
