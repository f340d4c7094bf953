#include "orchestrator/privd/protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

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
  EXPECT_FALSE(parseResponse("not json").isOk());
  EXPECT_FALSE(parseResponse(R"({"ok":"yes"})").isOk());
}

}  // namespace
}  // namespace kitgate::privd
