// The HTTP/2 codec in memory: two sessions wired back to back (a client and
// a server), or a session fed hand-built frames by a misbehaving peer — the
// HTTP/2 denial-of-service classes each get one.
#include "proxy/codec/http2/session.h"

#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/h2_recorder.h"

namespace kitgate::http2 {
namespace {

using testing::Buffer;
using testing::Recorder;

// ---------------------------------------------------------------- frames

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kData = 0x0, kHeaders = 0x1, kRst = 0x3, kSettings = 0x4, kPushPromise = 0x5,
                  kPing = 0x6, kGoaway = 0x7, kContinuation = 0x9;
constexpr uint8_t kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4;

std::string frame(uint8_t type, uint8_t flags, uint32_t sid, std::string_view payload) {
  std::string f;
  const size_t n = payload.size();
  f.push_back(static_cast<char>((n >> 16) & 0xff));
  f.push_back(static_cast<char>((n >> 8) & 0xff));
  f.push_back(static_cast<char>(n & 0xff));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int shift : {24, 16, 8, 0}) f.push_back(static_cast<char>((sid >> shift) & 0xff));
  f.append(payload);
  return f;
}

std::string u32(uint32_t v) {
  std::string s;
  for (int shift : {24, 16, 8, 0}) s.push_back(static_cast<char>((v >> shift) & 0xff));
  return s;
}

std::string setting(uint16_t id, uint32_t value) {
  std::string s;
  s.push_back(static_cast<char>(id >> 8));
  s.push_back(static_cast<char>(id & 0xff));
  return s + u32(value);
}

// HPACK integer with an N-bit prefix (RFC 7541 §5.1).
std::string hpackInt(uint8_t first, int prefix_bits, size_t v) {
  const size_t max = (1u << prefix_bits) - 1;
  std::string s;
  if (v < max) {
    s.push_back(static_cast<char>(first | v));
    return s;
  }
  s.push_back(static_cast<char>(first | max));
  v -= max;
  while (v >= 128) {
    s.push_back(static_cast<char>((v % 128) | 0x80));
    v /= 128;
  }
  s.push_back(static_cast<char>(v));
  return s;
}

std::string hpackString(std::string_view v) { return hpackInt(0, 7, v.size()) + std::string(v); }

// A literal field: without indexing (0x00) or with incremental indexing (0x40).
std::string literal(std::string_view name, std::string_view value, bool index = false) {
  return std::string(1, index ? '\x40' : '\x00') + hpackString(name) + hpackString(value);
}

// GET https://a.test/ as one header block (static table :method GET,
// :scheme https, :path /; :authority literal).
std::string getBlock(std::string_view authority = "a.test") {
  return std::string("\x82\x87\x84") + literal(":authority", authority);
}

struct Frame {
  uint8_t type;
  uint8_t flags;
  uint32_t sid;
  std::string payload;
};

std::string drain(evbuffer* b) {
  std::string s(evbuffer_get_length(b), '\0');
  evbuffer_remove(b, s.data(), s.size());
  return s;
}

std::vector<Frame> parseFrames(std::string_view bytes) {
  if (bytes.substr(0, kPreface.size()) == kPreface) bytes.remove_prefix(kPreface.size());
  std::vector<Frame> out;
  while (bytes.size() >= 9) {
    const auto b = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
    const size_t n = (size_t{b(0)} << 16) | (size_t{b(1)} << 8) | b(2);
    if (bytes.size() < 9 + n) break;
    const uint32_t sid =
        ((uint32_t{b(5)} << 24) | (uint32_t{b(6)} << 16) | (uint32_t{b(7)} << 8) | b(8)) &
        0x7fffffffu;
    out.push_back({b(3), b(4), sid, std::string(bytes.substr(9, n))});
    bytes.remove_prefix(9 + n);
  }
  return out;
}

uint32_t errorCodeOf(const Frame& f) {
  const std::string_view p = f.type == kGoaway ? std::string_view(f.payload).substr(4) : f.payload;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

const Frame* findFrame(const std::vector<Frame>& frames, uint8_t type, uint32_t sid = 0) {
  for (const Frame& f : frames) {
    if (f.type == type && (sid == 0 || f.sid == sid)) return &f;
  }
  return nullptr;
}

// The connection-level end every DoS class must reach: GOAWAY with `code`
// among what the session wrote, and the session done (the connection closes
// when it neither reads nor writes any more).
void expectEnded(Session& s, evbuffer* out, ErrorCode code) {
  ASSERT_TRUE(s.flush(out, 1 << 20).isOk());
  const auto frames = parseFrames(drain(out));
  const Frame* goaway = findFrame(frames, kGoaway);
  ASSERT_NE(goaway, nullptr);
  EXPECT_EQ(errorCodeOf(*goaway), static_cast<uint32_t>(code));
  EXPECT_FALSE(s.wantsRead());
  EXPECT_FALSE(s.wantsWrite());
}

std::unique_ptr<Session> makeSession(Session::Role role, Recorder& rec, const Limits& limits = {}) {
  auto s = Session::create(role, limits, rec);
  EXPECT_TRUE(s.isOk()) << s.status().message();
  rec.session = s.value().get();
  return std::move(s.value());
}

// A client and a server session back to back.
struct Pair {
  Recorder crec, srec;
  std::unique_ptr<Session> client, server;
  Status client_status = Status::ok(), server_status = Status::ok();

  explicit Pair(const Limits& limits = {})
      : client(makeSession(Session::Role::kClient, crec, limits)),
        server(makeSession(Session::Role::kServer, srec, limits)) {}

  // Opens a stream for `r` and delivers its head; returns its id.
  int32_t open(const http::Request& r, bool end_stream) {
    auto id = client->submitRequest(r, end_stream);
    EXPECT_TRUE(id.isOk()) << id.status().message();
    pump();
    return id.isOk() ? id.value() : -1;
  }

  // Exchanges frames until neither side has anything to send (bounded).
  void pump() {
    Buffer c2s, s2c;
    for (int i = 0; i < 10000; ++i) {
      EXPECT_TRUE(client->flush(c2s.b, 64 * 1024).isOk());
      EXPECT_TRUE(server->flush(s2c.b, 64 * 1024).isOk());
      if (evbuffer_get_length(c2s.b) == 0 && evbuffer_get_length(s2c.b) == 0) return;
      if (Status st = server->dispatch(c2s.b); !st.isOk()) server_status = st;
      if (Status st = client->dispatch(s2c.b); !st.isOk()) client_status = st;
    }
    ADD_FAILURE() << "the sessions never went quiet";
  }
};

// A server session fed hand-built frames by a raw peer that has sent its
// preface and SETTINGS (`settings`: its entries).
struct RawPeer {
  Recorder rec;
  std::unique_ptr<Session> server;
  Buffer in, out;

  explicit RawPeer(const Limits& limits = {}, std::string_view settings = {})
      : server(makeSession(Session::Role::kServer, rec, limits)) {
    send(std::string(kPreface) + frame(kSettings, 0, 0, settings));
  }
  void send(std::string_view bytes) { evbuffer_add(in.b, bytes.data(), bytes.size()); }
  Status dispatch() { return server->dispatch(in.b); }
  // What the session wrote since the last call, as frames.
  std::vector<Frame> written() {
    EXPECT_TRUE(server->flush(out.b, 1 << 20).isOk());
    return parseFrames(drain(out.b));
  }
};

http::Request getRequest() {
  http::Request r;
  r.method = "GET";
  r.scheme = "https";
  r.host = "api.example.test";
  r.port = 443;
  r.path = "/v1/models?x=1";
  r.headers = {{"Host", "api.example.test"}, {"Accept", "*/*"},
               {"Connection", "keep-alive"}, {"Keep-Alive", "timeout=5"},
               {"TE", "trailers"},           {"Authorization", "Bearer placeholder"}};
  return r;
}

void addString(evbuffer* b, std::string_view s) { evbuffer_add(b, s.data(), s.size()); }

// ---------------------------------------------------------------- exchange

TEST(Http2Session, RequestArrivesAsProtocolNeutralRequest) {
  Pair p;
  const int32_t id = p.open(getRequest(), true);
  ASSERT_EQ(p.srec.heads[id].size(), 1u);
  const auto& got = p.srec.heads[id][0];
  EXPECT_TRUE(got.end_stream);
  EXPECT_EQ(got.head.kind, Head::Kind::kRequest);
  const http::Request& r = got.head.request;
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.scheme, "https");
  EXPECT_EQ(r.host, "api.example.test");
  EXPECT_EQ(r.port, 0) << "the default port is not sent";
  EXPECT_EQ(r.path, "/v1/models?x=1");
  // Lower-cased; Host, Connection and Keep-Alive are not HTTP/2 fields; TE
  // survives as "trailers" (gRPC needs it).
  const std::vector<http::Header> want = {
      {"accept", "*/*"}, {"te", "trailers"}, {"authorization", "Bearer placeholder"}};
  EXPECT_EQ(r.headers, want);
  EXPECT_TRUE(p.srec.ended[id]);
}

TEST(Http2Session, AuthorityClasses) {
  struct Case {
    std::string host;
    uint16_t port;
    std::string want_host;
    uint16_t want_port;
  };
  for (const Case& c : std::vector<Case>{{"a.test", 8443, "a.test", 8443},
                                         {"a.test", 443, "a.test", 0},
                                         {"::1", 9000, "::1", 9000},
                                         {"10.0.0.1", 0, "10.0.0.1", 0}}) {
    Pair p;
    http::Request r = getRequest();
    r.host = c.host;
    r.port = c.port;
    const int32_t id = p.open(r, true);
    ASSERT_EQ(p.srec.heads[id].size(), 1u) << c.host;
    EXPECT_EQ(p.srec.heads[id][0].head.request.host, c.want_host);
    EXPECT_EQ(p.srec.heads[id][0].head.request.port, c.want_port);
  }
}

TEST(Http2Session, HostHeaderNamesTheTargetWithoutAuthority) {
  RawPeer peer;
  peer.send(frame(kHeaders, kEndHeaders | kEndStream, 1,
                  std::string("\x82\x87\x84") + literal("host", "b.test:444")));
  ASSERT_TRUE(peer.dispatch().isOk());
  ASSERT_EQ(peer.rec.heads[1].size(), 1u);
  EXPECT_EQ(peer.rec.heads[1][0].head.request.host, "b.test");
  EXPECT_EQ(peer.rec.heads[1][0].head.request.port, 444);
}

TEST(Http2Session, BadAuthorityResetsTheStreamOnly) {
  RawPeer peer;
  // '!' is a legal authority byte for HTTP/2 but no host name policy matches.
  peer.send(frame(kHeaders, kEndHeaders | kEndStream, 1, getBlock("a!b.test")));
  peer.send(frame(kHeaders, kEndHeaders | kEndStream, 3, getBlock("a.test")));
  ASSERT_TRUE(peer.dispatch().isOk());
  ASSERT_TRUE(peer.server->flush(peer.out.b, 1 << 20).isOk());
  EXPECT_TRUE(peer.rec.heads[1].empty());
  EXPECT_EQ(peer.rec.heads[3].size(), 1u);
  EXPECT_EQ(peer.server->stats().heads_rejected, 1u);
  const auto frames = parseFrames(drain(peer.out.b));
  const Frame* rst = findFrame(frames, kRst, 1);
  ASSERT_NE(rst, nullptr);
  EXPECT_EQ(errorCodeOf(*rst), static_cast<uint32_t>(ErrorCode::kProtocolError));
  EXPECT_TRUE(peer.server->wantsRead());
}

TEST(Http2Session, ResponseWithBodyAndTrailersRelayedIntact) {
  Pair p;
  http::Request req = getRequest();
  req.method = "POST";
  req.headers.push_back({"content-type", "application/grpc"});
  const int32_t sid = p.open(req, false);
  Buffer body;
  addString(body.b, "request-part-1;");
  p.client->sendData(sid, body.b, false);
  p.pump();
  addString(body.b, "request-part-2");
  p.client->sendData(sid, body.b, true);
  p.pump();
  EXPECT_EQ(p.srec.bodies[sid], "request-part-1;request-part-2");
  EXPECT_TRUE(p.srec.ended[sid]);
  EXPECT_EQ(p.crec.sent[sid], 29u);

  http::ResponseHead interim;
  interim.status = 103;
  interim.headers = {{"Link", "</a.css>; rel=preload"}};
  ASSERT_TRUE(p.server->submitResponse(sid, interim, false).isOk());
  http::ResponseHead resp;
  resp.status = 200;
  resp.headers = {{"Content-Type", "application/grpc"}, {"Transfer-Encoding", "chunked"}};
  ASSERT_TRUE(p.server->submitResponse(sid, resp, false).isOk());
  addString(body.b, "response-bytes");
  p.server->sendData(sid, body.b, false);
  p.server->sendTrailers(sid, {{"grpc-status", "0"}, {"grpc-message", ""}});
  p.pump();

  const auto& heads = p.crec.heads[sid];
  ASSERT_EQ(heads.size(), 3u);
  EXPECT_EQ(heads[0].head.kind, Head::Kind::kInterim);
  EXPECT_EQ(heads[0].head.response.status, 103);
  EXPECT_EQ(heads[1].head.kind, Head::Kind::kResponse);
  EXPECT_EQ(heads[1].head.response.status, 200);
  const std::vector<http::Header> want_resp = {{"content-type", "application/grpc"}};
  EXPECT_EQ(heads[1].head.response.headers, want_resp);
  EXPECT_EQ(heads[2].head.kind, Head::Kind::kTrailers);
  const std::vector<http::Header> want_trailers = {{"grpc-status", "0"}, {"grpc-message", ""}};
  EXPECT_EQ(heads[2].head.trailers, want_trailers);
  EXPECT_TRUE(heads[2].end_stream);
  EXPECT_EQ(p.crec.bodies[sid], "response-bytes");
  EXPECT_TRUE(p.crec.ended[sid]);
  ASSERT_TRUE(p.crec.closed.count(sid));
  EXPECT_EQ(p.crec.closed[sid], ErrorCode::kNoError);
  EXPECT_EQ(p.client->openStreams(), 0u);
  EXPECT_EQ(p.server->openStreams(), 0u);
}

TEST(Http2Session, ResetByPeerReachesTheConsumer) {
  Pair p;
  const int32_t id = p.open(getRequest(), false);
  p.client->resetStream(id, ErrorCode::kCancel);
  p.pump();
  ASSERT_TRUE(p.srec.closed.count(id));
  EXPECT_EQ(p.srec.closed[id], ErrorCode::kCancel);
  EXPECT_EQ(p.server->openStreams(), 0u);
}

TEST(Http2Session, ShutdownSendsGoawayAndLetsStreamsInFlightFinish) {
  Pair p;
  const int32_t id = p.open(getRequest(), true);
  p.server->shutdown();
  http::ResponseHead resp;
  resp.status = 204;
  ASSERT_TRUE(p.server->submitResponse(id, resp, true).isOk());
  p.pump();
  ASSERT_EQ(p.crec.heads[id].size(), 1u);
  EXPECT_EQ(p.crec.heads[id][0].head.response.status, 204);
  EXPECT_FALSE(p.client->submitRequest(getRequest(), true).isOk())
      << "no new stream after the peer's GOAWAY";
}

// ---------------------------------------------------------------- flow control

TEST(Http2Session, SlowReaderOnOneStreamStallsOnlyThatStreamWithinItsWindow) {
  Limits limits;
  limits.stream_window = 64 * 1024;
  limits.connection_window = 1024 * 1024;
  Pair p(limits);  // client = the proxy's upstream leg, server = the origin
  const int32_t slow = p.open(getRequest(), true);
  const int32_t fast = p.open(getRequest(), true);
  p.crec.hold[slow] = true;  // nothing downstream takes these bytes
  constexpr size_t kBody = 600 * 1024;
  for (int32_t id : {slow, fast}) {
    http::ResponseHead resp;
    resp.status = 200;
    ASSERT_TRUE(p.server->submitResponse(id, resp, false).isOk());
    Buffer body;
    const std::string chunk(kBody, 'x');
    addString(body.b, chunk);
    p.server->sendData(id, body.b, true);
  }
  p.pump();
  EXPECT_EQ(p.crec.bodies[fast].size(), kBody);
  EXPECT_TRUE(p.crec.ended[fast]);
  // The slow stream got exactly its window; the rest waits at the origin,
  // not in the proxy.
  EXPECT_EQ(p.crec.bodies[slow].size(), limits.stream_window);
  EXPECT_EQ(p.server->queuedBody(slow), kBody - limits.stream_window);
  // Its reader catches up: the window reopens by what was passed on.
  p.crec.hold[slow] = false;
  p.client->consume(slow, limits.stream_window);
  p.pump();
  EXPECT_EQ(p.crec.bodies[slow].size(), kBody);
  EXPECT_TRUE(p.crec.ended[slow]);
}

TEST(Http2Session, ZeroWindowPeerGetsNoDataAndNothingSpins) {
  RawPeer peer(Limits{}, setting(0x4, 0));  // window 0
  peer.send(frame(kHeaders, kEndHeaders | kEndStream, 1, getBlock()));
  ASSERT_TRUE(peer.dispatch().isOk());
  http::ResponseHead resp;
  resp.status = 200;
  ASSERT_TRUE(peer.server->submitResponse(1, resp, false).isOk());
  Buffer body;
  addString(body.b, std::string(10000, 'y'));
  peer.server->sendData(1, body.b, true);
  const auto frames = peer.written();
  EXPECT_NE(findFrame(frames, kHeaders, 1), nullptr);
  EXPECT_EQ(findFrame(frames, kData, 1), nullptr);
  EXPECT_FALSE(peer.server->wantsWrite()) << "a stalled stream must not keep the loop writing";
  EXPECT_EQ(peer.server->queuedBody(1), 10000u);
  EXPECT_EQ(peer.rec.sent[1], 0u);
}

// ---------------------------------------------------------------- DoS classes

TEST(Http2Session, HpackBombIsRefusedWithoutBufferingTheHeaderList) {
  Limits limits;
  limits.max_header_list_bytes = 16 * 1024;
  RawPeer peer(limits);
  // One 4000-byte field into the dynamic table, then 2000 one-byte
  // references to it: ~8 MB decoded from ~6 KB on the wire.
  std::string bomb = getBlock() + literal("x-bomb", std::string(4000, 'a'), /*index=*/true);
  bomb.append(2000, '\xbe');
  peer.send(frame(kHeaders, kEndHeaders | kEndStream, 1, bomb));
  // The connection survives one; the next request still works (and the
  // dynamic table is still in sync).
  peer.send(frame(kHeaders, kEndHeaders | kEndStream, 3,
                  getBlock() + std::string("\xbe")));  // x-bomb, once
  ASSERT_TRUE(peer.dispatch().isOk());
  EXPECT_TRUE(peer.rec.heads[1].empty());
  EXPECT_EQ(peer.server->stats().header_lists_refused, 1u);
  const auto frames = peer.written();
  const Frame* rst = findFrame(frames, kRst, 1);
  ASSERT_NE(rst, nullptr);
  EXPECT_EQ(errorCodeOf(*rst), static_cast<uint32_t>(ErrorCode::kEnhanceYourCalm));
  ASSERT_EQ(peer.rec.heads[3].size(), 1u);
  const http::Header* f = http::findHeader(peer.rec.heads[3][0].head.request.headers, "x-bomb");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->value.size(), 4000u);
}

TEST(Http2Session, TooManyFieldsIsRefused) {
  Limits limits;
  limits.max_headers = 20;
  RawPeer peer(limits);
  std::string block = getBlock();
  for (int i = 0; i < 30; ++i) block += literal("x-f" + std::to_string(i), "v");
  peer.send(frame(kHeaders, kEndHeaders | kEndStream, 1, block));
  ASSERT_TRUE(peer.dispatch().isOk());
  EXPECT_TRUE(peer.rec.heads[1].empty());
  EXPECT_EQ(peer.server->stats().header_lists_refused, 1u);
}

TEST(Http2Session, RepeatedRefusedHeadsEndTheConnection) {
  Limits limits;
  limits.max_header_list_bytes = 4 * 1024;
  RawPeer peer(limits);
  for (uint32_t sid = 1; sid < 200; sid += 2) {
    peer.send(frame(kHeaders, kEndHeaders | kEndStream, sid,
                    getBlock() + literal("x-big", std::string(5000, 'b'))));
  }
  EXPECT_FALSE(peer.dispatch().isOk());
  expectEnded(*peer.server, peer.out.b, ErrorCode::kEnhanceYourCalm);
  EXPECT_LE(peer.server->stats().header_lists_refused, 16u);
  EXPECT_EQ(peer.rec.requestCount(), 0u);
}

TEST(Http2Session, ContinuationFloodEndsTheConnection) {
  RawPeer peer;
  peer.send(frame(kHeaders, 0, 1, getBlock()));  // no END_HEADERS
  for (int i = 0; i < 1000; ++i) {
    peer.send(frame(kContinuation, 0, 1, literal("x-c", "v")));
  }
  // A fatal error for the library: the connection closes at once.
  const Status st = peer.dispatch();
  EXPECT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("CONTINUATION"), std::string::npos) << st.message();
  EXPECT_EQ(evbuffer_get_length(peer.in.b), 0u);
  EXPECT_TRUE(peer.rec.heads.empty());
}

std::string ackedFrame(uint8_t type) {
  return type == kPing ? frame(kPing, 0, 0, std::string(8, 'p'))
                       : frame(kSettings, 0, 0, setting(0x3, 100));
}

// A peer that sends SETTINGS or PING and never reads our ACKs.
void expectAckFlood(uint8_t type) {
  Limits limits;
  limits.max_outbound_ack = 100;
  RawPeer peer(limits);
  for (int i = 0; i < 500; ++i) peer.send(ackedFrame(type));
  EXPECT_FALSE(peer.dispatch().isOk());
}

// The same peer reading as it goes is fine.
void expectAcksFlowToAReader(uint8_t type) {
  Limits limits;
  limits.max_outbound_ack = 100;
  RawPeer peer(limits);
  for (int i = 0; i < 500; ++i) {
    peer.send(ackedFrame(type));
    ASSERT_TRUE(peer.dispatch().isOk()) << i;
    peer.written();
  }
}

TEST(Http2Session, SettingsFloodEndsTheConnection) {
  expectAckFlood(kSettings);
  expectAcksFlowToAReader(kSettings);
}

TEST(Http2Session, PingFloodEndsTheConnection) {
  expectAckFlood(kPing);
  expectAcksFlowToAReader(kPing);
}

TEST(Http2Session, SettingsFrameWithTooManyEntriesEndsTheConnection) {
  std::string entries;
  for (int i = 0; i < 40; ++i) entries += setting(0x3, 100);
  RawPeer peer(Limits{}, entries);
  (void)peer.dispatch();
  expectEnded(*peer.server, peer.out.b, ErrorCode::kEnhanceYourCalm);
}

TEST(Http2Session, RapidResetEndsTheConnection) {
  Limits limits;
  limits.reset_burst = 20;
  limits.reset_rate = 1;
  RawPeer peer(limits);
  for (uint32_t sid = 1; sid < 1000; sid += 2) {
    peer.send(frame(kHeaders, kEndHeaders, sid, getBlock()));
    peer.send(frame(kRst, 0, sid, u32(static_cast<uint32_t>(ErrorCode::kCancel))));
  }
  EXPECT_FALSE(peer.dispatch().isOk());
  expectEnded(*peer.server, peer.out.b, ErrorCode::kEnhanceYourCalm);
  EXPECT_LE(peer.rec.requestCount(), limits.reset_burst + 1)
      << "requests kept being accepted after the burst";
}

TEST(Http2Session, StreamsAboveTheConcurrencyLimitEndTheConnection) {
  Limits limits;
  limits.max_concurrent_streams = 10;
  RawPeer peer(limits);
  peer.written();  // our SETTINGS, then the peer's ACK
  peer.send(frame(kSettings, kAck, 0, ""));
  for (uint32_t sid = 1; sid <= 29; sid += 2) {  // 15 open streams (no END_STREAM)
    peer.send(frame(kHeaders, kEndHeaders, sid, getBlock()));
  }
  // A peer that opens more streams than it acknowledged it may: the
  // connection ends (RFC 9113 §5.1.2), after the streams within the limit.
  (void)peer.dispatch();
  EXPECT_EQ(peer.rec.requestCount(), 10u);
  expectEnded(*peer.server, peer.out.b, ErrorCode::kProtocolError);
}

TEST(Http2Session, ServerPushTowardUsIsRefused) {
  Recorder rec;
  auto client = makeSession(Session::Role::kClient, rec);
  auto id = client->submitRequest(getRequest(), true);
  ASSERT_TRUE(id.isOk());
  Buffer out, in;
  ASSERT_TRUE(client->flush(out.b, 1 << 20).isOk());
  const auto sent = parseFrames(drain(out.b));
  const Frame* settings = findFrame(sent, kSettings);
  ASSERT_NE(settings, nullptr);
  EXPECT_NE(settings->payload.find(setting(0x2, 0)), std::string::npos) << "ENABLE_PUSH=0";
  // An origin that pushes anyway.
  addString(in.b, frame(kSettings, 0, 0, "") + frame(kSettings, kAck, 0, ""));
  addString(in.b, frame(kPushPromise, kEndHeaders, static_cast<uint32_t>(id.value()),
                        u32(2) + getBlock()));
  (void)client->dispatch(in.b);
  EXPECT_EQ(client->stats().pushes_refused, 1u);
  expectEnded(*client, out.b, ErrorCode::kProtocolError);
  EXPECT_TRUE(rec.heads.empty());
}

}  // namespace
}  // namespace kitgate::http2
