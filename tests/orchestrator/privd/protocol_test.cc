#include "orchestrator/privd/protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <tuple>

#include "tests/orchestrator/privd/oauth_route.h"

namespace kitgate::privd {
namespace {

std::string refusal(std::string_view bytes) {
  auto r = parseRequest(bytes);
  return r.isOk() ? "" : r.status().message();
}

TEST(PrivdProtocol, EveryVerbRoundTrips) {
  Request w;
  w.verb = Verb::kSandboxWrite;
  w.name = "amp";
  w.token = "kgtABCDEFGHabcdefgh0123";
  w.allow = {"*.ampcode.com:443", "api.github.com"};
  w.deny = {"evil.example"};
  w.routes = {state::Route{"amp", {"ampcode.com"}, "Authorization", "Bearer %s", ""}};
  auto back = parseRequest(encodeRequest(w));
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back->verb, Verb::kSandboxWrite);
  EXPECT_EQ(back->name, "amp");
  EXPECT_EQ(back->token, w.token);
  EXPECT_EQ(back->allow, w.allow);
  EXPECT_EQ(back->deny, w.deny);
  ASSERT_EQ(back->routes.size(), 1u);
  EXPECT_EQ(back->routes[0].format, "Bearer %s");

  Request rel;
  rel.verb = Verb::kFirewallRelease;
  rel.name = "amp";
  rel.subnet = "172.30.16.0/24";
  rel.gateway = "172.30.16.1";
  auto r2 = parseRequest(encodeRequest(rel));
  ASSERT_TRUE(r2.isOk()) << r2.status().message();
  EXPECT_EQ(r2->subnet, "172.30.16.0/24");

  Request listen;
  listen.verb = Verb::kListenAdd;
  listen.listen = "172.30.16.1:3128";
  ASSERT_TRUE(parseRequest(encodeRequest(listen)).isOk());
  listen.listen = "[fd00::1]:3128";
  ASSERT_TRUE(parseRequest(encodeRequest(listen)).isOk());

  for (Verb v : {Verb::kHello, Verb::kProxyEnsure, Verb::kProxyReload}) {
    Request r;
    r.verb = v;
    auto p = parseRequest(encodeRequest(r));
    ASSERT_TRUE(p.isOk()) << verbName(v) << ": " << p.status().message();
    EXPECT_EQ(p->verb, v);
  }
}

TEST(PrivdProtocol, RefusesOversizeRequests) {
  std::string big =
      R"({"verb":"sandbox-write","name":"amp","token":"kgtABCDEFGHabcdefgh","allow":[)";
  while (big.size() <= kMaxMessageBytes) big += R"("a.example",)";
  big += R"("b.example"]})";
  EXPECT_NE(refusal(big).find("too large"), std::string::npos);
}

TEST(PrivdProtocol, RefusesMalformedRequests) {
  for (std::string_view bytes :
       {std::string_view(""), std::string_view("verb=hello"), std::string_view("[1,2]"),
        std::string_view("{\"verb\":\"hello\""), std::string_view("\"hello\""),
        std::string_view("{\"name\":\"amp\"}"), std::string_view("{\"verb\":7}")}) {
    const std::string m = refusal(bytes);
    EXPECT_NE(m.find("malformed request"), std::string::npos) << bytes << " -> " << m;
  }
}

TEST(PrivdProtocol, RefusesUnknownVerbs) {
  for (std::string_view verb : {"exec", "run", "iptables", "HELLO", "", "firewall-isolate "}) {
    const std::string m = refusal(R"({"verb":")" + std::string(verb) + R"("})");
    EXPECT_NE(m.find("unknown verb"), std::string::npos) << verb << " -> " << m;
    EXPECT_EQ(m.find(std::string("\"") + std::string(verb)), std::string::npos)
        << "the refusal echoes the caller's text";
  }
}

TEST(PrivdProtocol, RefusesFieldsAVerbDoesNotTakeAndMissingFields) {
  // Rule text, a command, a path: never fields of any verb.
  EXPECT_NE(refusal(R"({"verb":"firewall-isolate","name":"amp","rules":"-A INPUT -j ACCEPT"})")
                .find("takes no field"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"verb":"proxy-reload","path":"/etc/shadow"})").find("takes no field"),
            std::string::npos);
  EXPECT_NE(
      refusal(
          R"({"verb":"firewall-isolate","name":"amp","subnet":"10.0.0.0/8","gateway":"10.0.0.1"})")
          .find("takes no field"),
      std::string::npos);
  EXPECT_NE(refusal(R"({"verb":"firewall-isolate"})").find("needs field name"), std::string::npos);
  EXPECT_NE(refusal(R"({"verb":"sandbox-write","name":"amp"})").find("needs field token"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"verb":"firewall-isolate","name":["amp"]})").find("must be a string"),
            std::string::npos);
}

TEST(PrivdProtocol, RefusesNamesThatAreNotSandboxNames) {
  for (std::string_view name :
       {"../etc/passwd", "..", ".", "a/b", "/abs", "Amp", "amp\n", "-amp", "", "amp name",
        "x\\..\\y", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    for (std::string_view verb :
         {"firewall-isolate", "firewall-release", "sandbox-remove", "sandbox-ca", "sandbox-token",
          "ca-remove", "secrets-remove", "placeholders"}) {
      nlohmann::json j = {{"verb", verb}, {"name", name}};
      const std::string m = refusal(j.dump());
      EXPECT_NE(m.find("invalid sandbox name"), std::string::npos)
          << verb << " " << name << " -> " << m;
    }
  }
}

TEST(PrivdProtocol, RefusesBadAddressesListensAndTokens) {
  const char* bad_release[] = {
      R"("subnet":"172.30.16.0/24","gateway":"172.30.17.1")",  // gateway outside
      R"("subnet":"172.30.16.0","gateway":"172.30.16.1")",     // no prefix
      R"("subnet":"172.30.16.0/33","gateway":"172.30.16.1")",  // prefix too long
      R"("subnet":"172.30.16.0/0","gateway":"172.30.16.1")",   // everything
      R"("subnet":"fd00::/64","gateway":"172.30.16.1")",       // family mismatch
      R"("subnet":"x; iptables -F/24","gateway":"1.2.3.4")",   // not an address
      R"("subnet":"172.30.16.0/24")",                          // gateway missing
  };
  for (const char* fields : bad_release) {
    const std::string m =
        refusal(std::string(R"({"verb":"firewall-release","name":"amp",)") + fields + "}");
    EXPECT_FALSE(m.empty()) << fields;
  }
  for (std::string_view listen :
       {"0.0.0.0:3128", "127.0.0.1:3128", "172.30.16.1:22", "172.30.16.1", "fd00::1:3128",
        "[::1]:3128", "[::]:3128", "host.example:3128", "172.30.16.1:3128x"}) {
    const std::string m =
        refusal(R"({"verb":"listen-add","listen":")" + std::string(listen) + R"("})");
    EXPECT_NE(m.find("listen entry"), std::string::npos) << listen << " -> " << m;
  }
  for (std::string_view token :
       {"short", "kgt-has-dashes-0123456789", "kgt with spaces 0123456", ""}) {
    const std::string m =
        refusal(R"({"verb":"sandbox-write","name":"amp","token":")" + std::string(token) + R"("})");
    EXPECT_NE(m.find("invalid token"), std::string::npos) << token << " -> " << m;
  }
  EXPECT_NE(
      refusal(
          R"({"verb":"sandbox-write","name":"amp","token":"kgtABCDEFGHabcdefgh","allow":["a b"]})")
          .find("allow"),
      std::string::npos);
  EXPECT_NE(
      refusal(
          R"({"verb":"sandbox-write","name":"amp","token":"kgtABCDEFGHabcdefgh","routes":[{"service":"s","exec":"x"}]})")
          .find("unknown field"),
      std::string::npos);
}

TEST(PrivdProtocol, RefusalsNeverEchoTheToken) {
  const std::string m =
      refusal(R"({"verb":"sandbox-write","name":"../x","token":"kgtSECRETSECRETSECRET"})");
  EXPECT_FALSE(m.empty());
  EXPECT_EQ(m.find("SECRET"), std::string::npos);
}

Request secretSet(std::string value) {
  Request r;
  r.verb = Verb::kSecretSet;
  r.scope = "global";
  r.service = "anthropic";
  r.value = std::move(value);
  return r;
}

TEST(PrivdProtocol, SecretAndPolicyVerbsRoundTrip) {
  auto back = parseRequest(encodeRequest(secretSet("sk-ant-REALVALUE-0123")));
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back->verb, Verb::kSecretSet);
  EXPECT_EQ(back->scope, "global");
  EXPECT_EQ(back->service, "anthropic");
  EXPECT_EQ(back->value, "sk-ant-REALVALUE-0123");

  Request custom;
  custom.verb = Verb::kSecretSetCustom;
  custom.scope = "sandbox:dev1";
  custom.env = "AMP_API_KEY";
  custom.hosts = {"ampcode.com", "*.ampcode.com", "**.example.org", "10.1.2.3"};
  custom.placeholder = "sgamp-0123456789abcdef";
  custom.value = "real amp value";
  back = parseRequest(encodeRequest(custom));
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back->env, custom.env);
  EXPECT_EQ(back->hosts, custom.hosts);
  EXPECT_EQ(back->placeholder, custom.placeholder);
  EXPECT_EQ(back->value, custom.value);

  for (auto [service, host, placeholder] :
       {std::tuple{"github", "", ""}, std::tuple{"", "*.ampcode.com", ""},
        std::tuple{"", "", "sgamp-0123456789abcdef"}}) {
    Request rm;
    rm.verb = Verb::kSecretRemove;
    rm.scope = "sandbox:dev1";
    rm.service = service;
    rm.host = host;
    rm.placeholder = placeholder;
    rm.check = true;
    back = parseRequest(encodeRequest(rm));
    ASSERT_TRUE(back.isOk()) << back.status().message();
    EXPECT_EQ(back->service, service);
    EXPECT_EQ(back->host, host);
    EXPECT_EQ(back->placeholder, placeholder);
    EXPECT_TRUE(back->check);
  }

  for (Verb v : {Verb::kPolicyAllow, Verb::kPolicyDeny, Verb::kPolicyRemove}) {
    for (std::string sandbox : {"", "dev1"}) {
      Request rule;
      rule.verb = v;
      rule.name = sandbox;
      rule.rules = {"registry.npmjs.org:443", "**.githubusercontent.com", "10.0.0.0/8:5432"};
      back = parseRequest(encodeRequest(rule));
      ASSERT_TRUE(back.isOk()) << verbName(v) << ": " << back.status().message();
      EXPECT_EQ(back->verb, v);
      EXPECT_EQ(back->name, sandbox);
      EXPECT_EQ(back->rules, rule.rules);
    }
  }

  Request check;
  check.verb = Verb::kPolicyCheck;
  check.target = "[2001:db8::1]:443";
  check.name = "dev1";
  back = parseRequest(encodeRequest(check));
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back->target, check.target);

  Request log;
  log.verb = Verb::kPolicyLog;
  log.name = "dev1";
  log.decision = "blocked";
  log.host = "example.com";
  log.summary = true;
  log.limit = 20;
  back = parseRequest(encodeRequest(log));
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back->decision, "blocked");
  EXPECT_EQ(back->host, "example.com");
  EXPECT_TRUE(back->summary);
  EXPECT_EQ(back->limit, 20u);

  for (Verb v : {Verb::kSecretList, Verb::kPolicyList, Verb::kPolicyLog}) {
    Request r;
    r.verb = v;
    back = parseRequest(encodeRequest(r));
    ASSERT_TRUE(back.isOk()) << verbName(v) << ": " << back.status().message();
    EXPECT_EQ(back->verb, v);
  }
}

TEST(PrivdProtocol, SandboxWriteCarriesTheKitsOAuthRoutes) {
  Request w;
  w.verb = Verb::kSandboxWrite;
  w.name = "claude";
  w.token = "kgtABCDEFGHabcdefgh0123";
  w.oauth = {testing::claudeOAuthRoute()};
  auto back = parseRequest(encodeRequest(w));
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back->oauth, w.oauth);
  // Checked by the proxy's own reader: a route without its token host is refused.
  nlohmann::json j = nlohmann::json::parse(encodeRequest(w));
  j["oauth"]["credentials"][0].erase("token_endpoint");
  EXPECT_FALSE(parseRequest(j.dump()).isOk());
  j["oauth"] = "not an object";
  EXPECT_NE(refusal(j.dump()).find("oauth"), std::string::npos);
}

TEST(PrivdProtocol, RefusesMalformedSecretAndPolicyRequests) {
  const std::pair<const char*, const char*> refused[] = {
      {R"({"verb":"secret-set","scope":"global","service":"a"})", "needs field value"},
      {R"({"verb":"secret-set","scope":"everyone","service":"a","value":"v1234567"})",
       "invalid scope"},
      {R"({"verb":"secret-set","scope":"sandbox:../x","service":"a","value":"v1234567"})",
       "invalid scope"},
      {R"({"verb":"secret-set","scope":"global","service":"a/b","value":"v1234567"})",
       "invalid service"},
      {R"({"verb":"secret-set","scope":"global","service":"a","value":7})", "must be a string"},
      {R"({"verb":"secret-set","scope":"global","service":"a","value":"v","command":"id"})",
       "takes no field"},
      {R"({"verb":"secret-set","scope":"global","service":"a","value":"v","path":"/etc/x"})",
       "takes no field"},
      {R"({"verb":"secret-set-custom","scope":"global","env":"1X","hosts":["a.example"],"placeholder":"kitgate-cs-0123456789","value":"v"})",
       "invalid env"},
      {R"({"verb":"secret-set-custom","scope":"global","env":"X","hosts":[],"placeholder":"kitgate-cs-0123456789","value":"v"})",
       "field hosts"},
      {R"({"verb":"secret-set-custom","scope":"global","env":"X","hosts":["exa mple.com"],"placeholder":"kitgate-cs-0123456789","value":"v"})",
       "hosts"},
      {R"({"verb":"secret-set-custom","scope":"global","env":"X","hosts":["http://x.example/"],"placeholder":"kitgate-cs-0123456789","value":"v"})",
       "not a host pattern"},
      {R"({"verb":"secret-set-custom","scope":"global","env":"X","hosts":["a.example"],"placeholder":"short","value":"v"})",
       "placeholder"},
      {R"({"verb":"secret-rm","scope":"global"})", "one of service, host, placeholder"},
      {R"({"verb":"secret-rm","scope":"global","service":"a","host":"b.example"})",
       "one of service, host, placeholder"},
      {R"({"verb":"secret-rm","scope":"global","service":"a","check":"yes"})",
       "must be true or false"},
      {R"({"verb":"secret-ls","scope":"global"})", "takes no field"},
      {R"({"verb":"policy-allow","rules":["exa mple.com"]})", "rules"},
      {R"({"verb":"policy-allow","rules":["bad..host"]})", "invalid rule"},
      {R"({"verb":"policy-allow","rules":[]})", "no RESOURCES"},
      {R"({"verb":"policy-deny","name":"../etc","rules":["a.example"]})", "invalid sandbox name"},
      {R"({"verb":"policy-log","decision":"maybe"})", "invalid decision"},
      {R"({"verb":"policy-log","limit":-1})", "field limit"},
      {R"({"verb":"policy-log","summary":1})", "must be true or false"},
      {R"({"verb":"policy-check"})", "needs field target"},
  };
  for (const auto& [bytes, why] : refused) {
    const std::string m = refusal(bytes);
    EXPECT_NE(m.find(why), std::string::npos) << bytes << " -> " << m;
  }
  // Oversized: a value larger than a request may be.
  EXPECT_NE(refusal(encodeRequest(secretSet(std::string(kMaxMessageBytes, 'v')))).find("too large"),
            std::string::npos);
  // The list of known verbs names the new ones.
  EXPECT_NE(refusal(R"({"verb":"secret-get"})").find("secret-set-custom"), std::string::npos);
}

TEST(PrivdProtocol, ABadSecretValueIsRefusedWithoutQuotingIt) {
  for (std::string value :
       {std::string("sk-SECRET\nline2"), std::string(" sk-SECRET"), std::string("sk-SECRET "),
        std::string("sk-\x7fSECRET"), std::string("sk-SECRET\r"), std::string("")}) {
    const std::string m = refusal(encodeRequest(secretSet(value)));
    EXPECT_NE(m.find("the secret value"), std::string::npos) << m;
    EXPECT_EQ(m.find("SECRET"), std::string::npos) << m;
  }
  // A value in a refused request for another reason is not quoted either.
  Request r = secretSet("sk-SECRET-abc");
  r.scope = "sandbox:Not Valid";
  const std::string m = refusal(encodeRequest(r));
  EXPECT_FALSE(m.empty());
  EXPECT_EQ(m.find("SECRET"), std::string::npos) << m;
}

TEST(PrivdProtocol, ResponsesRoundTrip) {
  Response r;
  r.ok = true;
  r.text = "-----BEGIN CERTIFICATE-----\n";
  r.lines = {"listen"};
  r.pairs = {{"GH_TOKEN", "kitgate-cs-abc"}};
  auto back = parseResponse(encodeResponse(r));
  ASSERT_TRUE(back.isOk());
  EXPECT_TRUE(back->ok);
  EXPECT_EQ(back->text, r.text);
  EXPECT_EQ(back->lines, r.lines);
  EXPECT_EQ(back->pairs, r.pairs);
  Response change;
  change.ok = true;
  change.text = "Allowed in the global policy: a.example";
  change.notes = {"no sandbox named dev9 exists yet"};
  change.warnings = {"sandbox dev1 trusts an interception CA made before a.example was allowed"};
  change.reload_error = "cannot reload kitgate-proxy: refused";
  back = parseResponse(encodeResponse(change));
  ASSERT_TRUE(back.isOk());
  EXPECT_EQ(back->notes, change.notes);
  EXPECT_EQ(back->warnings, change.warnings);
  EXPECT_EQ(back->reload_error, change.reload_error);
  // A listing larger than a request may be still comes back whole.
  Response big;
  big.ok = true;
  big.text = std::string(2 * kMaxMessageBytes, 'x');
  back = parseResponse(encodeResponse(big));
  ASSERT_TRUE(back.isOk());
  EXPECT_EQ(back->text.size(), big.text.size());
  EXPECT_FALSE(parseResponse("not json").isOk());
  EXPECT_FALSE(parseResponse(R"({"ok":"yes"})").isOk());
}

}  // namespace
}  // namespace kitgate::privd
