// Every deny path of the real proxy: the 403 body agents know, the
// policy-log line, and that nothing reaches an upstream. Both request forms
// (CONNECT and absolute-form GET) go through each case.
//
// No case may make the proxy resolve a name through real DNS or connect off
// the box: names are either denied by name rules or listed in the static DNS
// map, and "**" is only combined with addresses that are refused.
#include "tests/integration/harness.h"

namespace kitgate::testing {
namespace {

struct DenyCase {
  const char* target;       // host:port as the client writes it
  const char* shown_host;   // host:port in the 403 body (normalised)
  const char* log_host;     // "host" in the policy log
  const char* reason;       // the detail line
  const char* rule;         // the deciding rule ("" for defaults); null: not checked
                            // (an address refusal logs the rule that allowed the name)
};

std::string blockedBody(const DenyCase& c) {
  return std::string("Blocked by network policy: domain ") + c.shown_host + "\n  detail: " + c.reason + "\n";
}

// Sends the request in both forms and checks the 403, its body and its log line.
void expectDenied(ProxyProcess& proxy, const DenyCase& c) {
  SCOPED_TRACE(c.target);
  for (bool connect : {true, false}) {
    SCOPED_TRACE(connect ? "CONNECT" : "GET");
    std::string req = connect ? std::string("CONNECT ") + c.target + " HTTP/1.1\r\nHost: " + c.target + "\r\n\r\n"
                              : std::string("GET http://") + c.target + "/small HTTP/1.1\r\nHost: " + c.target +
                                    "\r\n\r\n";
    auto r = requestOnce(proxy.port(), req, 5s);
    ASSERT_TRUE(r.isOk()) << r.status().message();
    EXPECT_EQ(r->status, 403);
    EXPECT_EQ(r->body, blockedBody(c));
    EXPECT_EQ(r->header("Connection"), "close");
    const std::string type = connect ? "connect" : "http";
    auto line = proxy.waitForLog(logLine(c.log_host, 403, type));
    ASSERT_TRUE(line.has_value()) << "no policy-log line for " << c.log_host;
    EXPECT_EQ((*line)["decision"], "blocked");
    EXPECT_EQ((*line)["reason"], c.reason);
    if (c.rule != nullptr) {
      EXPECT_EQ((*line)["rule"], c.rule);
    }
    EXPECT_EQ((*line)["method"], connect ? "CONNECT" : "GET");
  }
}

// Name rules only (no IP/CIDR allow): whatever a name rule allows still has
// to pass the address check, which refuses loopback.
TEST(Deny, NameRulesAndAddressCheck) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ProxyOptions o;
  o.allow = {"origin.test", "*.wild.test", "blocked.test", "**.deep.test"};
  o.deny = {"blocked.test"};
  o.dns_hosts = {{"origin.test", "127.0.0.1"}, {"a.wild.test", "127.0.0.2"}, {"x.y.deep.test", "127.0.0.2"}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  const std::string port = std::to_string(origin->port());
  const std::string origin_target = "origin.test:" + port;
  const std::string default_deny = "no matching allow rule - blocked by default deny policy";
  const DenyCase cases[] = {
      {"other.test:80", "other.test:80", "other.test", default_deny.c_str(), ""},
      {"blocked.test:80", "blocked.test:80", "blocked.test", "blocked by deny rule \"blocked.test\"", "blocked.test"},
      // `*.x` needs exactly one extra label: neither the apex nor two labels.
      {"wild.test:80", "wild.test:80", "wild.test", default_deny.c_str(), ""},
      {"a.b.wild.test:80", "a.b.wild.test:80", "a.b.wild.test", default_deny.c_str(), ""},
      // Names are normalised before matching: case and a trailing dot.
      {"BLOCKED.Test.:80", "blocked.test:80", "blocked.test", "blocked by deny rule \"blocked.test\"", "blocked.test"},
      // Allowed by name, refused by address: loopback needs an IP/CIDR allow.
      {"a.wild.test:80", "a.wild.test:80", "a.wild.test", "resolved address 127.0.0.2 is loopback (blocked by default)",
       nullptr},
      {"x.y.deep.test:80", "x.y.deep.test:80", "x.y.deep.test",
       "resolved address 127.0.0.2 is loopback (blocked by default)", nullptr},
  };
  for (const auto& c : cases) expectDenied(*proxy, c);
  // The origin itself listens on loopback, which no IP/CIDR rule allows here.
  const std::string loopback_reason = "resolved address 127.0.0.1 is loopback (blocked by default)";
  expectDenied(*proxy, {origin_target.c_str(), origin_target.c_str(), "origin.test", loopback_reason.c_str(), nullptr});
  auto line = proxy->waitForLog(logLine("origin.test", 403));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["address"], "127.0.0.1");
  EXPECT_EQ(origin->connectionsAccepted(), 0u);
}

// "**" allows every host name, never a non-public address: IP literals in
// every spelling are normalised and refused by the address check.
TEST(Deny, NonPublicLiteralsRefusedEvenUnderAllowAll) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ProxyOptions o;
  o.allow = {"**"};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  const std::string p = std::to_string(origin->port());
  const std::string self = "resolved address 127.0.0.1 is loopback (blocked by default)";
  const std::string t_dec = "2130706433:" + p, t_hex = "0x7f.1:" + p, t_short = "127.1:" + p,
                    t_oct = "0177.0.0.1:" + p, t_mapped = "[::ffff:127.0.0.1]:" + p,
                    t_mapped_hex = "[::ffff:7f00:1]:" + p, shown = "127.0.0.1:" + p,
                    shown_mapped = "[::ffff:127.0.0.1]:" + p;
  const std::string self_mapped = "resolved address ::ffff:127.0.0.1 is loopback (blocked by default)";
  const DenyCase cases[] = {
      {"169.254.169.254:80", "169.254.169.254:80", "169.254.169.254",
       "resolved address 169.254.169.254 is link-local (blocked by default)", nullptr},
      // IPv4-mapped IPv6 keeps its spelling but is classified by its IPv4.
      {"[::ffff:169.254.169.254]:80", "[::ffff:169.254.169.254]:80", "::ffff:169.254.169.254",
       "resolved address ::ffff:169.254.169.254 is link-local (blocked by default)", nullptr},
      {"10.1.2.3:80", "10.1.2.3:80", "10.1.2.3", "resolved address 10.1.2.3 is private (blocked by default)", nullptr},
      {"[fd00::1]:80", "[fd00::1]:80", "fd00::1", "resolved address fd00::1 is private (blocked by default)", nullptr},
      {"127.0.0.2:80", "127.0.0.2:80", "127.0.0.2", "resolved address 127.0.0.2 is loopback (blocked by default)", nullptr},
      {t_dec.c_str(), shown.c_str(), "127.0.0.1", self.c_str(), nullptr},
      {t_hex.c_str(), shown.c_str(), "127.0.0.1", self.c_str(), nullptr},
      {t_short.c_str(), shown.c_str(), "127.0.0.1", self.c_str(), nullptr},
      {t_oct.c_str(), shown.c_str(), "127.0.0.1", self.c_str(), nullptr},
      {t_mapped.c_str(), shown_mapped.c_str(), "::ffff:127.0.0.1", self_mapped.c_str(), nullptr},
      {t_mapped_hex.c_str(), shown_mapped.c_str(), "::ffff:127.0.0.1", self_mapped.c_str(), nullptr},
  };
  for (const auto& c : cases) expectDenied(*proxy, c);
  EXPECT_EQ(origin->connectionsAccepted(), 0u);
}

// With an explicit IP allow for 127.0.0.1, every numeric spelling of it is
// the same host: all reach the origin.
TEST(Deny, NumericIpv4FormsAllowedConsistentlyByCidrRule) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  ProxyOptions o;
  o.allow = {"127.0.0.1/32"};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  const std::string p = std::to_string(origin->port());
  for (std::string host : {"127.0.0.1", "2130706433", "0x7f.1", "127.1", "0177.0.0.1", "0x7F000001"}) {
    SCOPED_TRACE(host);
    ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), "GET http://" + host + ":" + p +
                                                                "/small HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, patternBytes(0, kSmallBodySize));
  }
  // ...and a different loopback address is still refused: the rule is /32.
  ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), "CONNECT 127.0.0.2:" + p + " HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, "Blocked by network policy: domain 127.0.0.2:" + p +
                        "\n  detail: no matching allow rule - blocked by default deny policy\n");
  EXPECT_EQ(origin->requestsServed(), 6u);
}

TEST(Deny, PortScopedRulesRefuseOtherPorts) {
  ASSERT_OK_AND_ASSIGN(auto origin, OriginServer::start());
  const std::string p = std::to_string(origin->port());
  ProxyOptions o;
  o.allow = {"origin.test:" + p, "127.0.0.1:" + p};
  o.dns_hosts = {{"origin.test", "127.0.0.1"}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  ASSERT_OK_AND_ASSIGN(auto ok, requestOnce(proxy->port(), absoluteGet(*origin, "/small")));
  EXPECT_EQ(ok.status, 200);
  // Port 1: the name rule does not match; the address decides, and the IP
  // rule is scoped to the origin's port.
  ASSERT_OK_AND_ASSIGN(auto r, requestOnce(proxy->port(), "CONNECT origin.test:1 HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, "Blocked by network policy: domain origin.test:1\n  detail: resolved address 127.0.0.1 is "
                    "loopback (blocked by default)\n");
  EXPECT_EQ(origin->connectionsAccepted(), 1u);
}

// The proxy's own listener is never a destination, whatever the rules say
// (no loops through the proxy).
TEST(Deny, ProxyOwnListenerNeverAllowed) {
  ProxyOptions o;
  o.allow = {"127.0.0.1/32", "**", "self.test"};
  o.dns_hosts = {{"self.test", "127.0.0.1"}};
  ASSERT_OK_AND_ASSIGN(auto proxy, ProxyProcess::start(o));
  const std::string p = std::to_string(proxy->port());
  const std::string reason = "resolved address 127.0.0.1:" + p + " is the proxy's own listener (never allowed)";
  const std::string by_ip = "127.0.0.1:" + p, by_name = "self.test:" + p, by_number = "2130706433:" + p;
  expectDenied(*proxy, {by_ip.c_str(), by_ip.c_str(), "127.0.0.1", reason.c_str(), nullptr});
  expectDenied(*proxy, {by_name.c_str(), by_name.c_str(), "self.test", reason.c_str(), nullptr});
  expectDenied(*proxy, {by_number.c_str(), by_ip.c_str(), "127.0.0.1", reason.c_str(), nullptr});
}

}  // namespace
}  // namespace kitgate::testing
