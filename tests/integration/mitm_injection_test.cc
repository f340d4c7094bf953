// Credential injection through TLS interception: what the origin receives
// from curl (a real user tool) trusting the sandbox CA, and what the sandbox
// sees coming back.
#include "tests/integration/mitm_fixture.h"

namespace kitgate::testing {
namespace {

using MitmInjection = MitmWorld;

// The whole "Name: value" line of header `name` (as sent) in a raw head.
std::string headerLine(const std::string& head, const std::string& name) {
  size_t pos = head.find("\r\n" + name + ":");
  if (pos == std::string::npos) return "";
  size_t end = head.find("\r\n", pos + 2);
  return head.substr(pos + 2, end - pos - 2);
}

TEST_F(MitmInjection, BearerPlaceholderIsReplacedForTheBoundHost) {
  ASSERT_OK_AND_ASSIGN(
      auto r, curlVia(sandbox_ca_file_, {"-H", std::string("Authorization: Bearer ") + kPlaceholder,
                                         target(kAmpHost, *origin_, "/headers")}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.http_code, 200);
  const std::string head = origin_->lastRequestHead();
  EXPECT_EQ(headerLine(head, "Authorization"), std::string("Authorization: Bearer ") + kCustomValue)
      << head;
  EXPECT_EQ(head.find(kPlaceholder), std::string::npos) << head;
  // The connection was intercepted, and the log says what was done.
  auto connect = proxy_->waitForLog(logLine(kAmpHost, 200, "connect"));
  ASSERT_TRUE(connect.has_value());
  EXPECT_EQ((*connect)["proxy"], "forward");
  EXPECT_NE((*connect)["reason"].get<std::string>().find("intercepted: inject X-Api-Key"),
            std::string::npos);
  EXPECT_NE((*connect)["reason"].get<std::string>().find(std::string("substitute ") + kPlaceholder),
            std::string::npos);
  EXPECT_TRUE(proxy_->waitForLog(logLine(kAmpHost, 200, "http")).has_value());
}

TEST_F(MitmInjection, ServiceRouteOverwritesProxyManagedHeader) {
  ASSERT_OK_AND_ASSIGN(auto r, curlVia(sandbox_ca_file_, {"-H", "X-Api-Key: proxy-managed", "-H",
                                                          "x-api-key: second-copy",
                                                          target(kAmpHost, *origin_, "/headers")}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.http_code, 200);
  const std::string head = origin_->lastRequestHead();
  EXPECT_NE(head.find(std::string("X-Api-Key: Key ") + kAmpKey + "\r\n"), std::string::npos)
      << head;
  EXPECT_EQ(head.find("proxy-managed"), std::string::npos) << head;
  EXPECT_EQ(head.find("second-copy"), std::string::npos) << head;
}

TEST_F(MitmInjection, ServiceRouteAddsHeaderTheClientDidNotSend) {
  ASSERT_OK_AND_ASSIGN(auto r, curlVia(sandbox_ca_file_, {target(kAmpHost, *origin_, "/headers")}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(origin_->lastRequestHead().find(std::string("X-Api-Key: Key ") + kAmpKey + "\r\n"),
            std::string::npos);
}

// Revocation: after `secret rm` + reload, an intercepted keep-alive connection
// opened before it never carries the removed value again.
TEST_F(MitmInjection, RemovedSecretIsNotInjectedOnAConnectionOpenedBefore) {
  ASSERT_OK_AND_ASSIGN(auto c, client(kAmpHost, *origin_));
  ASSERT_OK(c.send(c.request("GET", "/small")));
  ASSERT_OK_AND_ASSIGN(auto r, c.readResponse());
  ASSERT_EQ(r.status, 200);
  ASSERT_NE(origin_->lastRequestHead().find(kAmpKey), std::string::npos)
      << "injected before the removal";
  const size_t served = origin_->requestsServed();
  ASSERT_OK(proxy_->writeStateFile("secrets.yaml", "services: []\n"));
  ASSERT_OK_AND_ASSIGN(auto reload, proxy_->reloadViaAdmin());
  ASSERT_EQ(reload.status, 200) << reload.body;
  for (int i = 0; i < 3; ++i) {
    if (!c.send(c.request("GET", "/small")).isOk()) break;
    if (!c.readResponse().isOk()) break;  // closed by the reload: the client reconnects
  }
  if (origin_->requestsServed() > served) {
    EXPECT_EQ(origin_->lastRequestHead().find(kAmpKey), std::string::npos)
        << "the removed key was injected";
  }
}

TEST_F(MitmInjection, BasicWrappedPlaceholderIsReplaced) {
  ASSERT_OK_AND_ASSIGN(auto r, curlVia(sandbox_ca_file_, {"-u", std::string("user:") + kPlaceholder,
                                                          target(kAmpHost, *origin_, "/headers")}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string head = origin_->lastRequestHead();
  EXPECT_EQ(headerLine(head, "Authorization"),
            "Authorization: Basic " + base64(std::string("user:") + kCustomValue))
      << head;
}

TEST_F(MitmInjection, PlaceholderInQueryIsReplacedPathLeftAlone) {
  const std::string path = std::string("/headers?key=") + kPlaceholder + "&x=1";
  ASSERT_OK_AND_ASSIGN(auto r, curlVia(sandbox_ca_file_, {target(kAmpHost, *origin_, path)}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string head = origin_->lastRequestHead();
  // The secret has no characters that need percent-encoding.
  EXPECT_EQ(head.rfind(std::string("GET /headers?key=") + kCustomValue + "&x=1 HTTP/1.1\r\n", 0),
            0u)
      << head;
}

TEST_F(MitmInjection, PlaceholderToUnboundHostArrivesUnchangedThroughOpaqueTunnel) {
  // other.test has nothing bound: a plain tunnel, so the client sees the
  // origin's own certificate (verifies with the origin CA) ...
  ASSERT_OK_AND_ASSIGN(
      auto r, curlVia(origin_ca_file_, {"-H", std::string("Authorization: Bearer ") + kPlaceholder,
                                        target(kOtherHost, *origin_, "/headers")}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.http_code, 200);
  const std::string head = origin_->lastRequestHead();
  EXPECT_EQ(headerLine(head, "Authorization"), std::string("Authorization: Bearer ") + kPlaceholder)
      << head;
  EXPECT_EQ(head.find("X-Api-Key"), std::string::npos) << head;
  auto line = proxy_->waitForLog(logLine(kOtherHost, 200, "connect"));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["proxy"], "forward-bypass");
  // ... and a client trusting only the sandbox CA refuses it (curl 60:
  // peer certificate cannot be authenticated).
  ASSERT_OK_AND_ASSIGN(auto refused,
                       curlVia(sandbox_ca_file_, {target(kOtherHost, *origin_, "/headers")}));
  EXPECT_EQ(refused.exit_code, 60) << refused.err;
}

TEST_F(MitmInjection, EchoingOriginCannotReflectTheSecret) {
  ASSERT_OK_AND_ASSIGN(auto c, client(kAmpHost, *origin_));
  ASSERT_OK(c.send(c.request("GET", std::string("/echo-auth?k=") + kPlaceholder,
                             std::string("Authorization: Bearer ") + kPlaceholder + "\r\n")));
  ASSERT_OK_AND_ASSIGN(auto resp, c.readResponse());
  EXPECT_EQ(resp.status, 200);
  // The origin got the real value ...
  EXPECT_NE(origin_->lastSpecialHead().find(std::string("Bearer ") + kCustomValue),
            std::string::npos);
  // ... and echoed it, but the sandbox sees the placeholder.
  EXPECT_EQ(resp.header("X-Echo-Authorization").value_or(""), std::string("Bearer ") + kPlaceholder)
      << resp.head;
  for (const std::string& secret : secretForms()) {
    EXPECT_EQ(resp.head.find(secret), std::string::npos) << resp.head;
  }
}

TEST_F(MitmInjection, EchoedServiceSecretBecomesProxyManaged) {
  ASSERT_OK_AND_ASSIGN(auto c, client(kAmpHost, *origin_));
  ASSERT_OK(c.send(c.request("GET", "/echo-auth", "X-Api-Key: proxy-managed\r\n")));
  ASSERT_OK_AND_ASSIGN(auto resp, c.readResponse());
  EXPECT_EQ(resp.status, 200);
  // The origin got the injected value and reflected it; the sandbox sees the
  // sentinel in its place.
  EXPECT_NE(origin_->lastSpecialHead().find(std::string("X-Api-Key: Key ") + kAmpKey),
            std::string::npos);
  EXPECT_EQ(resp.header("X-Echo-Api-Key").value_or(""), "Key proxy-managed") << resp.head;
  EXPECT_EQ(resp.head.find(kAmpKey), std::string::npos) << resp.head;
}

}  // namespace
}  // namespace kitgate::testing
