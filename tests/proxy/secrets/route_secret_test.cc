// Which secret a credential route uses (issue 14, the seed tutorial's
// `secret set-custom --host`): sandbox service secret -> global service
// secret -> custom secret bound to the route's host (sandbox scope, then
// global). routeSecret() names it; the compiled plan injects its value.
#include <gtest/gtest.h>

#include <variant>

#include "proxy/secrets/store.h"
#include "proxy/secrets/store_model.h"

namespace kitgate::secrets {
namespace {

using Kind = RouteSecret::Kind;
using Scope = RouteSecret::Scope;

HostPattern pattern(const char* text) {
  auto p = parseHostPattern(text);
  EXPECT_TRUE(std::holds_alternative<HostPattern>(p)) << text;
  return std::get<HostPattern>(p);
}

Route ampRoute() {
  return Route{"amp", {pattern("ampcode.com")}, "Authorization", "Bearer %s", ""};
}

ServiceSecret service(const char* sandbox, const char* value) {
  return ServiceSecret{"amp", sandbox, value};
}

CustomSecret custom(const char* sandbox, const char* host, const char* env, const char* value) {
  return CustomSecret{
      sandbox, {pattern(host)}, env, std::string("sg-") + env + "-placeholder", value};
}

StoreModel model(std::vector<ServiceSecret> services, std::vector<CustomSecret> customs) {
  StoreModel m;
  m.services = std::move(services);
  m.customs = std::move(customs);
  m.sandboxes.push_back(SandboxRoutes{"dev1", {ampRoute()}});
  return m;
}

// What the amp route injects for sandbox dev1 toward ampcode.com.
std::string injected(const StoreModel& m) {
  auto store = compileStore(m);
  EXPECT_TRUE(store.isOk()) << store.status().message();
  if (!store.isOk()) return "(error)";
  const SandboxCredentials* c = (*store)->forSandbox("dev1");
  if (c == nullptr) return "(nothing bound)";
  auto plan = c->planFor(*policy::normalizeHost("ampcode.com"));
  if (!plan) return "(no plan)";
  for (const HeaderInjection& i : plan->injections) {
    if (i.name == "Authorization") return i.value;
  }
  return "(no injection)";
}

struct Case {
  const char* name;
  std::vector<ServiceSecret> services;
  std::vector<CustomSecret> customs;
  RouteSecret expected;
  const char* injected;
};

class RouteSecretChain : public ::testing::TestWithParam<Case> {};

TEST_P(RouteSecretChain, NamesTheSecretAndInjectsItsValue) {
  const Case& c = GetParam();
  const StoreModel m = model(c.services, c.customs);
  EXPECT_EQ(routeSecret(m, "dev1", ampRoute()), c.expected)
      << routeSecret(m, "dev1", ampRoute()).toString();
  EXPECT_EQ(injected(m), c.injected);
}

INSTANTIATE_TEST_SUITE_P(
    Precedence, RouteSecretChain,
    ::testing::Values(Case{"SandboxServiceFirst",
                           {service("", "svc-global"), service("dev1", "svc-dev1")},
                           {custom("dev1", "ampcode.com", "AMP_KEY", "custom-dev1")},
                           {Kind::kService, Scope::kSandbox, "amp"},
                           "Bearer svc-dev1"},
                      Case{"GlobalServiceBeforeAnyCustom",
                           {service("", "svc-global")},
                           {custom("dev1", "ampcode.com", "AMP_KEY", "custom-dev1")},
                           {Kind::kService, Scope::kGlobal, "amp"},
                           "Bearer svc-global"},
                      Case{"CustomBoundToTheHostWhenNoServiceSecret",
                           {},
                           {custom("", "ampcode.com", "AMP_API_KEY", "custom-global")},
                           {Kind::kCustom, Scope::kGlobal, "AMP_API_KEY"},
                           "Bearer custom-global"},
                      Case{"SandboxCustomBeforeGlobalCustom",
                           {},
                           {custom("dev1", "ampcode.com", "AMP_DEV1", "custom-dev1"),
                            custom("", "ampcode.com", "AMP_GLOBAL", "custom-global")},
                           {Kind::kCustom, Scope::kSandbox, "AMP_DEV1"},
                           "Bearer custom-dev1"},
                      Case{"LaterCustomWinsWithinAScope",
                           {},
                           {custom("", "ampcode.com", "AMP_OLD", "custom-old"),
                            custom("", "ampcode.com", "AMP_NEW", "custom-new")},
                           {Kind::kCustom, Scope::kGlobal, "AMP_NEW"},
                           "Bearer custom-new"},
                      Case{"OtherSandboxesSecretsAreNotUsed",
                           {ServiceSecret{"amp", "dev2", "svc-dev2"}},
                           {custom("dev2", "ampcode.com", "AMP_DEV2", "custom-dev2")},
                           {},
                           "(nothing bound)"},
                      Case{"CustomForAnotherHostIsNotUsed",
                           {},
                           {custom("", "api.other.com", "OTHER_KEY", "custom-other")},
                           {},
                           "(no plan)"},
                      Case{"OtherServicesSecretIsNotUsed",
                           {ServiceSecret{"github", "", "gh-token"}},
                           {},
                           {},
                           "(nothing bound)"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(RouteSecret, WildcardCustomIsBoundToARouteWithTheSamePattern) {
  StoreModel m;
  m.customs = {custom("", "*.ampcode.com", "AMP_KEY", "custom-wild")};
  Route r{"amp", {pattern("*.ampcode.com")}, "Authorization", "Bearer %s", ""};
  EXPECT_EQ(routeSecret(m, "dev1", r), (RouteSecret{Kind::kCustom, Scope::kGlobal, "AMP_KEY"}));
}

TEST(RouteSecret, DescriptionNamesKindScopeAndNameNeverTheValue) {
  const StoreModel m = model({}, {custom("", "ampcode.com", "AMP_API_KEY", "custom-VALUE-123")});
  const std::string text = routeSecret(m, "dev1", ampRoute()).toString();
  EXPECT_EQ(text, "custom secret AMP_API_KEY (global)");
  EXPECT_EQ((RouteSecret{Kind::kService, Scope::kSandbox, "amp"}).toString(),
            "service secret amp (sandbox scope)");
  EXPECT_EQ(RouteSecret{}.toString(), "none");
}

}  // namespace
}  // namespace kitgate::secrets
