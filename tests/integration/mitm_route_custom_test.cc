// The seed tutorial's credential flow (issue 14): the only secret is the
// custom secret registered with `kitgate secret set-custom --host
// ampcode.test`, the kit's `amp` route writes `Authorization: Bearer %s`, and
// the agent sends no placeholder at all. The route takes its value from the
// custom secret bound to its host, so the origin gets the key.
#include "tests/integration/mitm_fixture.h"

namespace kitgate::testing {
namespace {

class MitmRouteFromCustomSecret : public MitmWorld {
 protected:
  void customize(ProxyOptions& o) override {
    o.state_files["secrets.yaml"] =
        "custom:\n"
        "  - {scope: global, hosts: [\"" +
        std::string(kAmpHost) + "\"], env: AMP_API_KEY, placeholder: \"" + kPlaceholder +
        "\", value: \"" + kCustomValue + "\"}\n";
    o.state_files["credentials/default.yaml"] =
        "routes:\n"
        "  - {service: amp, domains: [\"" +
        std::string(kAmpHost) + "\"], header: Authorization, format: \"Bearer %s\"}\n";
  }
};

TEST_F(MitmRouteFromCustomSecret, AgentWithoutPlaceholderGetsTheCustomKeyInjected) {
  ASSERT_OK_AND_ASSIGN(auto r, curlVia(sandbox_ca_file_, {target(kAmpHost, *origin_, "/headers")}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.http_code, 200);
  const std::string head = origin_->lastRequestHead();
  EXPECT_NE(head.find(std::string("\r\nAuthorization: Bearer ") + kCustomValue + "\r\n"),
            std::string::npos)
      << head;
  auto connect = proxy_->waitForLog(logLine(kAmpHost, 200, "connect"));
  ASSERT_TRUE(connect.has_value());
  EXPECT_NE((*connect)["reason"].get<std::string>().find("intercepted: inject Authorization (amp)"),
            std::string::npos)
      << (*connect)["reason"];
}

TEST_F(MitmRouteFromCustomSecret, AgentsOwnAuthorizationIsReplacedByTheKey) {
  ASSERT_OK_AND_ASSIGN(
      auto r, curlVia(sandbox_ca_file_, {"-H", "Authorization: Bearer whatever-the-agent-had",
                                         target(kAmpHost, *origin_, "/headers")}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string head = origin_->lastRequestHead();
  EXPECT_NE(head.find(std::string("\r\nAuthorization: Bearer ") + kCustomValue + "\r\n"),
            std::string::npos)
      << head;
  EXPECT_EQ(head.find("whatever-the-agent-had"), std::string::npos) << head;
}

TEST_F(MitmRouteFromCustomSecret, HostWithoutABoundSecretIsStillTunnelled) {
  ASSERT_OK_AND_ASSIGN(auto r,
                       curlVia(origin_ca_file_, {target(kOtherHost, *origin_, "/headers")}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(origin_->lastRequestHead().find("Authorization"), std::string::npos);
  auto connect = proxy_->waitForLog(logLine(kOtherHost, 200, "connect"));
  ASSERT_TRUE(connect.has_value());
  EXPECT_EQ((*connect)["proxy"], "forward-bypass");
}

}  // namespace
}  // namespace kitgate::testing
