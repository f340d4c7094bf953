#include "proxy/http/serialize.h"

#include <gtest/gtest.h>

#include <string>

namespace kitgate::http {
namespace {

RequestHead mustParseRequest(std::string_view buf) {
  RequestHead head;
  size_t consumed = 0;
  const ParseStatus s = parseRequestHead(buf, {}, &head, &consumed);
  EXPECT_TRUE(s.isComplete()) << s.reason() << "\n" << buf;
  return head;
}

ResponseHead mustParseResponse(std::string_view buf, std::string_view method = "GET") {
  ResponseHead head;
  size_t consumed = 0;
  const ParseStatus s = parseResponseHead(buf, {}, method, &head, &consumed);
  EXPECT_TRUE(s.isComplete()) << s.reason() << "\n" << buf;
  return head;
}

TEST(SerializeRequest, AbsoluteFormBecomesOriginForm) {
  const RequestHead req = mustParseRequest(
      "POST http://api.example:8080/v1/x?y=1 HTTP/1.1\r\n"
      "Host: other.example\r\n"
      "Proxy-Authorization: Basic c2VjcmV0\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "Connection: keep-alive, X-Hop\r\n"
      "X-Hop: drop me\r\n"
      "Keep-Alive: timeout=5\r\n"
      "TE: trailers\r\n"
      "Accept: */*\r\n"
      "Content-Length: 3\r\n"
      "X-End: kept\r\n"
      "\r\n");
  std::string out;
  serializeRequestForOrigin(req, &out);
  EXPECT_EQ(out,
            "POST /v1/x?y=1 HTTP/1.1\r\n"
            "Host: api.example:8080\r\n"
            "Accept: */*\r\n"
            "X-End: kept\r\n"
            "Content-Length: 3\r\n"
            "Connection: keep-alive\r\n"
            "\r\n");
}

TEST(SerializeRequest, DropsEveryFieldConnectionNamesEvenMany) {
  // More names than the serializer gathers up front (it falls back to a scan).
  std::string head = "GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: close";
  std::string fields;
  for (int i = 0; i < 12; ++i) {
    head += ", X-H" + std::to_string(i);
    fields += "x-h" + std::to_string(i) + ": v\r\n";
  }
  head += "\r\n" + fields + "X-Kept: 1\r\n\r\n";
  std::string out;
  serializeRequestForOrigin(mustParseRequest(head), &out);
  EXPECT_EQ(out, "GET / HTTP/1.1\r\nHost: a\r\nX-Kept: 1\r\nConnection: close\r\n\r\n");
}

TEST(SerializeRequest, DefaultPortOmittedAndV6Bracketed) {
  std::string out;
  serializeRequestForOrigin(mustParseRequest("GET http://[::1]/ HTTP/1.1\r\nHost: x\r\n\r\n"),
                            &out);
  EXPECT_EQ(out, "GET / HTTP/1.1\r\nHost: [::1]\r\nConnection: keep-alive\r\n\r\n");
  out.clear();
  serializeRequestForOrigin(mustParseRequest("GET http://[::1]:81/ HTTP/1.0\r\n\r\n"), &out);
  EXPECT_EQ(out, "GET / HTTP/1.1\r\nHost: [::1]:81\r\nConnection: close\r\n\r\n");
}

TEST(SerializeRequest, HttpsSchemeOmits443) {
  RequestHead req = mustParseRequest("GET /p HTTP/1.1\r\nHost: api.example\r\n\r\n");
  req.scheme = "https";
  req.port = 443;
  std::string out;
  serializeRequestForOrigin(req, &out);
  EXPECT_EQ(out, "GET /p HTTP/1.1\r\nHost: api.example\r\nConnection: keep-alive\r\n\r\n");
}

TEST(SerializeRequest, ChunkedFramingAndUpgrade) {
  std::string out;
  serializeRequestForOrigin(
      mustParseRequest("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
      &out);
  EXPECT_EQ(out,
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
            "Connection: keep-alive\r\n\r\n");
  out.clear();
  serializeRequestForOrigin(
      mustParseRequest("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: k\r\n\r\n"),
      &out);
  EXPECT_EQ(out,
            "GET /ws HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: k\r\n"
            "Upgrade: websocket\r\nConnection: upgrade\r\n\r\n");
}

TEST(SerializeRequest, ExpectKeptOnlyWhenUnderstood) {
  std::string out;
  serializeRequestForOrigin(
      mustParseRequest("POST http://a/ HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"), &out);
  EXPECT_EQ(out.find("Expect"), std::string::npos) << out;
  out.clear();
  serializeRequestForOrigin(
      mustParseRequest("POST http://a/ HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n"),
      &out);
  EXPECT_NE(out.find("Expect: 100-Continue\r\n"), std::string::npos) << out;
}

TEST(SerializeRequest, RoundTripParsesEqualWithoutHopByHop) {
  const char* inputs[] = {
      "GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\nAccept: text/html\r\n"
      "Proxy-Authorization: Bearer t\r\nConnection: close\r\n\r\n",
      "PUT http://10.0.0.1:8080/up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n"
      "Content-Type: application/json\r\nX-A: a, b\r\n\r\n",
      "POST /api HTTP/1.1\r\nHost: api.example:8443\r\nTransfer-Encoding: chunked\r\n"
      "Expect: 100-continue\r\nAuthorization: Bearer x\r\n\r\n",
      "GET http://[2001:db8::1]:81/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
  };
  for (const char* input : inputs) {
    const RequestHead first = mustParseRequest(input);
    std::string wire;
    serializeRequestForOrigin(first, &wire);
    const RequestHead second = mustParseRequest(wire);
    EXPECT_EQ(second.form, RequestHead::TargetForm::kOrigin) << input;
    EXPECT_EQ(second.method, first.method);
    EXPECT_EQ(second.host, first.host);
    EXPECT_EQ(second.port, first.port == 80 ? 0 : first.port);
    EXPECT_EQ(second.path, first.path);
    EXPECT_EQ(second.framing, first.framing);
    EXPECT_EQ(second.content_length, first.content_length);
    EXPECT_EQ(second.keep_alive, first.keep_alive);
    EXPECT_EQ(second.expect_continue, first.expect_continue);
    for (const Header& h : second.headers) {
      EXPECT_FALSE(isHopByHop(h.name) && !equalsIgnoreCase(h.name, "connection") &&
                   !equalsIgnoreCase(h.name, "transfer-encoding"))
          << h.name;
      EXPECT_FALSE(equalsIgnoreCase(h.name, "proxy-authorization"));
    }
    // Serializing the re-parsed head is a fixed point.
    std::string again;
    serializeRequestForOrigin(second, &again);
    EXPECT_EQ(again, wire);
  }
}

TEST(SerializeResponse, DropsHopByHopAndRewritesFraming) {
  const ResponseHead resp = mustParseResponse(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: X-Internal\r\n"
      "X-Internal: 1\r\nProxy-Authenticate: Basic\r\nContent-Type: text/plain\r\n\r\n");
  std::string out;
  serializeResponseForClient(resp, &out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
            "Connection: keep-alive\r\n\r\n");
}

TEST(SerializeResponse, HeadAndNotModifiedKeepContentLength) {
  std::string out;
  serializeResponseForClient(mustParseResponse("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n",
                                               "HEAD"),
                             &out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nConnection: keep-alive\r\n\r\n");
  out.clear();
  serializeResponseForClient(mustParseResponse("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"),
                             &out);
  EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
}

TEST(SerializeResponse, InterimUntilCloseAndSwitchingProtocols) {
  std::string out;
  serializeResponseForClient(mustParseResponse("HTTP/1.1 100 Continue\r\n\r\n", "POST"), &out);
  EXPECT_EQ(out, "HTTP/1.1 100 Continue\r\n\r\n");
  out.clear();
  serializeResponseForClient(mustParseResponse("HTTP/1.0 200 OK\r\nServer: s\r\n\r\n"), &out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nServer: s\r\nConnection: close\r\n\r\n");
  out.clear();
  serializeResponseForClient(
      mustParseResponse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: upgrade\r\nSec-WebSocket-Accept: a\r\n\r\n"),
      &out);
  EXPECT_EQ(out,
            "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: a\r\n"
            "Upgrade: websocket\r\nConnection: upgrade\r\n\r\n");
}

TEST(SerializeResponse, EmptyReasonGetsStandardPhrase) {
  std::string out;
  serializeResponseForClient(mustParseResponse("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"), &out);
  EXPECT_EQ(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
}

TEST(ErrorResponse, ShapeAndParsesBack) {
  const std::string r = errorResponse(403, "Forbidden", "denied by policy\n", true);
  EXPECT_EQ(r,
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 17\r\nConnection: close\r\n\r\ndenied by policy\n");
  const ResponseHead back = mustParseResponse(r);
  EXPECT_EQ(back.status, 403);
  EXPECT_EQ(back.content_length, 17u);
  EXPECT_FALSE(back.keep_alive);
}

TEST(ErrorResponse, ReasonPhraseCannotInjectLines) {
  const std::string r = errorResponse(400, "Bad\r\nX-Injected: 1", "", false);
  EXPECT_EQ(r.find("\r\nX-Injected"), std::string::npos);
  EXPECT_NE(r.find("Connection: keep-alive"), std::string::npos);
}

TEST(HopByHop, Table) {
  for (const char* name : {"Connection", "keep-alive", "Proxy-Connection", "proxy-authorization",
                           "Proxy-Authenticate", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
                           "Proxy-Anything"}) {
    EXPECT_TRUE(isHopByHop(name)) << name;
  }
  for (const char* name : {"Host", "Authorization", "Content-Length", "Trailers", "Proxy", "T",
                           "X-Proxy-Id"}) {
    EXPECT_FALSE(isHopByHop(name)) << name;
  }
}

}  // namespace
}  // namespace kitgate::http
