// Codec cost of one proxied request, HTTP/2 next to HTTP/1.1: the four head
// operations the proxy does per request — decode the request, encode it
// toward the origin, decode the response, encode it toward the client — on
// the same typical request (10 fields) and response (6 fields, 101-byte
// body). HTTP/2: a client and a server http2::Session back to back (HPACK
// with its dynamic table warm, as on a long-lived connection, framing, flow
// control, evbuffer copies); HTTP/1.1: the strict parser and serializer.
// No TLS, no syscalls: what the codec adds per request.
#include <benchmark/benchmark.h>
#include <event2/buffer.h>

#include <string>

#include "proxy/codec/http2/session.h"
#include "proxy/http/request.h"
#include "proxy/http/response.h"
#include "proxy/http/serialize.h"

namespace {

using namespace kitgate;

const std::vector<http::Header> kRequestFields = {
    {"user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"},
    {"accept", "application/json, text/plain, */*"},
    {"accept-language", "en-US,en;q=0.9"},
    {"accept-encoding", "gzip, deflate, br"},
    {"authorization", "Bearer sbx-placeholder-0123456789abcdef0123456789abcdef"},
    {"cookie", "session=0123456789abcdef; theme=dark"},
    {"referer", "https://api.example.com/v1/projects/1234"},
    {"x-request-id", "6f1c2a3b-9d8e-4f7a-b6c5-d4e3f2a1b0c9"}};
const std::vector<http::Header> kResponseFields = {
    {"date", "Fri, 27 Nov 2026 07:00:00 GMT"},
    {"content-type", "application/json; charset=utf-8"},
    {"content-length", "101"},
    {"cache-control", "no-store"},
    {"x-request-id", "6f1c2a3b-9d8e-4f7a-b6c5-d4e3f2a1b0c9"}};
const std::string kBody(101, 'b');

struct Sink : http2::Callbacks {
  http2::Session* session = nullptr;
  int32_t last = 0;
  void onHeaders(int32_t id, http2::Head&, bool) override { last = id; }
  void onData(int32_t id, std::string_view d) override { session->consume(id, d.size()); }
  void onEnd(int32_t) override {}
  void onClose(int32_t, http2::ErrorCode) override {}
};

void exchange(http2::Session& from, http2::Session& to, evbuffer* wire) {
  (void)from.flush(wire, 1 << 20);
  (void)to.dispatch(wire);
}

void BM_Http2RequestResponseCodec(benchmark::State& state) {
  Sink client_sink, server_sink;
  auto client =
      std::move(http2::Session::create(http2::Session::Role::kClient, {}, client_sink).value());
  auto server =
      std::move(http2::Session::create(http2::Session::Role::kServer, {}, server_sink).value());
  client_sink.session = client.get();
  server_sink.session = server.get();
  evbuffer* wire = evbuffer_new();
  evbuffer* body = evbuffer_new();
  http::Request req;
  req.method = "GET";
  req.scheme = "https";
  req.host = "api.example.com";
  req.path = "/v1/projects/1234/items?limit=50&cursor=abcdef";
  req.headers = kRequestFields;
  http::ResponseHead resp;
  resp.status = 200;
  resp.headers = kResponseFields;
  for (auto _ : state) {
    (void)client->submitRequest(req, true);
    exchange(*client, *server, wire);
    (void)server->submitResponse(server_sink.last, resp, false);
    evbuffer_add(body, kBody.data(), kBody.size());
    server->sendData(server_sink.last, body, true);
    exchange(*server, *client, wire);
    exchange(*client, *server, wire);  // window updates
  }
  evbuffer_free(wire);
  evbuffer_free(body);
}
BENCHMARK(BM_Http2RequestResponseCodec);

void BM_Http1RequestResponseCodec(benchmark::State& state) {
  std::string request =
      "GET /v1/projects/1234/items?limit=50&cursor=abcdef HTTP/1.1\r\nHost: api.example.com\r\n";
  for (const http::Header& h : kRequestFields) request += h.name + ": " + h.value + "\r\n";
  request += "\r\n";
  std::string response = "HTTP/1.1 200 OK\r\n";
  for (const http::Header& h : kResponseFields) response += h.name + ": " + h.value + "\r\n";
  response += "\r\n";
  http::RequestHead req;
  http::ResponseHead resp;
  std::string out;
  size_t consumed = 0;
  for (auto _ : state) {
    out.clear();
    (void)http::parseRequestHead(request, {}, &req, &consumed);
    http::serializeRequestForOrigin(req, &out);
    (void)http::parseResponseHead(response, {}, "GET", &resp, &consumed);
    http::serializeResponseForClient(resp, &out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_Http1RequestResponseCodec);

}  // namespace
