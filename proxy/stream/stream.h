// Stream: one request, whatever protocol carried it — the pipeline every
// request goes through, in one place:
//
//   target check -> host -> policy (name) -> [CONNECT: interception decision]
//     -> [inner request of an intercepted connection: Host/SNI == CONNECT host]
//     -> upstream (reuse, or Connector: DNS -> final address decision -> connect)
//     -> tunnel | intercept | forward (rewrite: inject, placeholders)
//     -> one policy log line (at completion, or at the EndReason that ended it)
//
// The stream decides and orders; it never touches a socket or a byte of
// HTTP framing. What it asks of the connection it runs on (the codec and
// transport side) is the StreamHost interface: reply, tunnel, intercept,
// forward, log. The connection (proxy/server/connection.h) implements it;
// tests/proxy/stream drives a stream with a fake host, connector and clock.
//
// Thread: the owning worker's loop. One Stream object per connection is
// reused for each request on it (begin()), so per-request strings keep their
// capacity.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/admin/metrics.h"
#include "proxy/admin/policy_log.h"
#include "proxy/common/clock.h"
#include "proxy/common/unique_fd.h"
#include "proxy/http/request_model.h"
#include "proxy/http/response.h"
#include "proxy/policy/decision.h"
#include "proxy/policy/host.h"
#include "proxy/sandbox/registry.h"
#include "proxy/secrets/store.h"
#include "proxy/stream/body_scrub.h"
#include "proxy/stream/end_reason.h"
#include "proxy/stream/oauth_exchange.h"
#include "proxy/stream/oauth_wait.h"
#include "proxy/tls/client_hello.h"
#include "proxy/tls/leaf_cache.h"
#include "proxy/upstream/connector.h"

namespace kitgate::stream {

// How the request named its target (the codec knows; HTTP/1: the target
// form; HTTP/2: :method CONNECT, or :scheme/:authority present).
enum class Target : uint8_t {
  kConnect,      // CONNECT host:port
  kAbsolute,     // a full URL (plain HTTP through the proxy)
  kOrigin,       // a path, the host in Host/:authority
  kOther,        // "*" and the like
  kTransparent,  // a connection redirected to the transparent listener (no codec)
};

// A connection the host rules redirected to the transparent listener: where
// the sandbox connected to, and the name it is decided on when one is known.
struct TransparentTarget {
  enum class NameSource : uint8_t {
    kNone,  // no name: the bare address decides (IP/CIDR rules, `**`)
    kDns,   // kitgate's own DNS answer to this sandbox gave `address` for `name`
    kSni,   // the ClientHello's server_name: `name` must resolve to `address`
    // `address` is a sandbox gateway (what kitgate's DNS answers for
    // host.docker.internal): a host service, decided as `localhost` on the
    // port and connected to the host's loopback.
    kHostService,
  };
  policy::IpAddress address;  // the original destination
  uint16_t port = 0;
  std::string name;
  NameSource source = NameSource::kNone;
};

// What an intercepted connection fixes for every request inside it.
struct InterceptContext {
  policy::Host host;          // the CONNECT host
  uint16_t port = 0;          // the CONNECT port
  std::string sni;            // from the sandbox's ClientHello ("" when none)
  policy::Decision decision;  // the CONNECT's final decision
  std::string address;        // the upstream address in use
  const secrets::SandboxCredentials* creds = nullptr;
  std::shared_ptr<const secrets::InterceptPlan> plan;
  // An upstream TLS failure waiting to be answered (502) on the next request.
  std::string upstream_error;
};

// The connection side of a stream.
class StreamHost {
 public:
  virtual ~StreamHost() = default;
  // Whether the connection's kept-alive upstream serves host:port (a forward
  // then reuses it); if it serves another, it is closed.
  virtual bool keepUpstreamFor(const policy::Host& host, uint16_t port) = 0;
  // No kept-alive upstream serves host:port: take an idle one of the same
  // sandbox from the worker's pool (proxy/upstream/idle_pool.h), if its
  // address is still allowed — `decision` becomes the final one for that
  // address and `address` the address; the connection then holds it (plain,
  // or with its TLS leg done for an intercepted CONNECT).
  virtual bool reuseIdleUpstream(const policy::Host& host, uint16_t port,
                                 policy::Decision& decision, std::string& address) {
    (void)host, (void)port, (void)decision, (void)address;
    return false;
  }
  // CONNECT allowed, not intercepted: "200 Connection established", then an
  // opaque relay; the stream's complete() runs when it ends.
  virtual void tunnel(UniqueFd upstream) = 0;
  // CONNECT allowed and intercepted: "200", TLS with the sandbox (leaf for
  // the host), verified TLS toward `upstream`, then inner requests.
  virtual void intercept(UniqueFd upstream) = 0;
  // Send `request` upstream over `upstream` (a new connection), or over the
  // kept-alive one when `upstream` is invalid; then the response back.
  virtual void forward(UniqueFd upstream, const http::Request& request) = 0;
  // A local reply that ends the request; the connection closes after it.
  virtual void reply(const EndResponse& response) = 0;
  // One policy log line.
  virtual void log(const admin::PolicyRecord& record) = 0;
  // The stream is about to hold its request until an OAuth refresh ends
  // (bounded by kOAuthWaitLimit; forward() follows): true when the host can
  // hold it (its own request timer stops meanwhile). Default: it cannot (the
  // request goes on at once).
  virtual bool holdForRefresh() { return false; }
};

// What a stream reads, fixed for the connection (the pinned snapshot's parts).
struct StreamEnv {
  admin::WorkerMetrics* metrics = nullptr;
  upstream::Connector* connector = nullptr;
  const Clock* clock = nullptr;
  // Interception facts that do not depend on the host.
  bool tls_configured = false;              // client and upstream TLS contexts built
  const secrets::Store* secrets = nullptr;  // may be null
  // sandbox name -> its interception CA (may be null: none)
  const std::unordered_map<std::string, std::shared_ptr<const tls::LeafMinter>>* minters = nullptr;
  // The sandbox gateways (Snapshot::gateways; may be null): a CONNECT or a
  // full URL to one of these addresses is a host service, like
  // host.docker.internal.
  const std::vector<policy::IpAddress>* gateways = nullptr;
  // The worker's parked requests (may be null: requests never wait).
  OAuthWaits* oauth_waits = nullptr;
};

class Stream {
 public:
  Stream(const StreamEnv& env, StreamHost& host) : env_(env), host_(host) {}
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // A new request on the connection (resets every per-request field).
  // `sandbox` may be null until identified (the log then says "-").
  void begin(const sandbox::Sandbox* sandbox, Clock::time_point start);
  // What the log line says about a request that never got a parsed head
  // (a bad request, a timeout): its method and port as far as known.
  // On an intercepted connection `ic` names the CONNECT's host and decision.
  void describe(std::string_view method, Target target, uint16_t port,
                const InterceptContext* ic = nullptr);
  // The same for a transparent connection ended before its decision: the
  // original destination, no name.
  void describe(const TransparentTarget& target);
  // Cancels a pending upstream attempt or OAuth wait (the connection is closing).
  void cancel() {
    attempt_.reset();
    oauth_wait_.reset();
  }

  // An explicit proxy request (CONNECT or a full URL) from an identified sandbox.
  void onProxyRequest(const http::Request& request, Target target);
  // A transparent connection (`sandbox` null: unrecognised, refused): decided like a
  // CONNECT to (name or address):port, then connected to the original
  // address only, and tunnelled (never intercepted, never re-routed). A
  // connection to a gateway (kHostService) is a host service: decided as
  // `localhost`:port, connected to the host's loopback; a host-service name
  // from any other source (a ClientHello naming host.docker.internal toward
  // another address) is refused.
  void onTransparent(const TransparentTarget& target);
  // Whether the bare address already decides a transparent connection to
  // ip:port (allowed by IP/CIDR rules or `**`): no name needs to be awaited.
  static bool addressAllowed(const sandbox::Sandbox& sandbox, const policy::IpAddress& ip,
                             uint16_t port);
  // The first flight of an opaque tunnel, before a byte of it goes upstream
  // (a CONNECT not intercepted, once answered 200; a transparent connection
  // decided on kitgate's DNS name): true when it may go on, false when the
  // stream ended it (EndReason kTunnelRefused; the connection answers with a
  // TLS alert or a reset). A ClientHello must name the tunnel's host —
  // CONNECT: or another name a name rule allows on this port; transparent:
  // exactly the DNS name — so an allowed tunnel cannot front a name the
  // sandbox may not reach. TLS that cannot be read (malformed, too large, cut
  // short) is refused; a hello without a name and other protocols go on.
  // Counted (kitgate_tunnel_sni_total) and noted in the log lines.
  bool onFirstFlight(const tls::ClientHelloPeek& peek, bool client_eof);
  // The upstream spoke first (SSH, SMTP …): nothing to check.
  void onServerFirst();
  // A request inside an intercepted connection.
  void onInnerRequest(const http::Request& request, Target target, InterceptContext& ic);
  // The upstream's response head: scrubbed of the sandbox's secrets when
  // intercepted. True when the body that follows must go through
  // scrubBody (intercepted, secrets in scope, a body in identity encoding:
  // a compressed body is passed as it is — the forwarded request asked for
  // identity, see forward()).
  bool onResponseHead(http::ResponseHead& head);
  // Response body bytes (decoded payload) on their way to the client, with
  // the sandbox's secrets replaced; `last`: the body ended.
  void scrubBody(evbuffer* payload, evbuffer* out, bool last);
  size_t scrubHeld() const { return body_scrub_.held(); }
  // A token exchange whose request body carries the refresh-token sentinel
  // (proxy/stream/oauth_exchange.h): the body must go through
  // rewriteRequestBody, whole (its length changes: forwarded with the new
  // Content-Length; at most kMaxTokenRequest bytes).
  bool rewritesRequestBody() const { return oauth_.rewritesRequest(); }
  void rewriteRequestBody(evbuffer* payload, evbuffer* out, bool last) {
    oauth_.requestBody(payload, out, last);
  }

  // Ends the request: the EndReason table gives the reply, the metric and
  // the log line.
  void end(EndReason reason, std::string_view detail = {}, int status = 0);
  // The request completed (response or tunnel done): writes the allowed log
  // line (the close line when the stream logged an open one) and counts the
  // bytes unless they were counted as they flowed (tunnels).
  void complete(int status, uint64_t bytes_up, uint64_t bytes_down, bool count_bytes = true);
  // An allowed CONNECT was answered 200 (tunnel or interception): request
  // latency, and the open line of the canonical log.
  void answered();
  // A log line outside the usual two (interception started, a handshake
  // failed or timed out).
  void logLine(bool allowed, int status, std::string_view reason, uint64_t up = 0,
               uint64_t down = 0, admin::PolicyEvent event = admin::PolicyEvent::kClose,
               std::string_view error = {});
  // Who the client is and what this request's log id is (set by the
  // connection before the request is handed over).
  void identify(std::string_view client, std::string id) {
    client_ = client;
    id_ = std::move(id);
  }
  const std::string& id() const { return id_; }
  // The TLS handshake time of an intercepted connection (for its log lines).
  void setTlsMs(double ms) { tls_ms_ = ms; }

  // A reload decided this stream's connection again: the sandbox and the
  // decision now come from the new snapshot (a tunnel's final log line).
  void rebase(const sandbox::Sandbox* sandbox, policy::Decision decision) {
    sandbox_ = sandbox;
    decision_ = std::move(decision);
  }
  // Marks the stream as running on an intercepted connection (log wording).
  void setIntercepted(bool on) { intercepted_ = on; }

  const policy::Host& host() const { return host_name_; }
  uint16_t port() const { return port_; }
  const policy::Decision& decision() const { return decision_; }
  const std::string& address() const { return address_; }
  bool isConnect() const { return target_ == Target::kConnect; }
  bool isTransparent() const { return target_ == Target::kTransparent; }
  // Transparent: decided on the name kitgate's DNS gave for the address.
  bool nameFromDns() const { return original_resolved_; }
  // The request type its metrics and log line are counted under.
  admin::ReqType reqType() const {
    return isTransparent() ? admin::ReqType::kTransparent
           : isConnect()   ? admin::ReqType::kConnect
                           : admin::ReqType::kHttp;
  }
  const sandbox::Sandbox* sandbox() const { return sandbox_; }
  // The upstream the request went out on (a reused one) closed before any
  // response byte: the same request again over a new connection (the
  // connection retries only what may be replayed).
  void retryOnNewConnection() { connectUpstream(); }
  bool waitingForUpstream() const { return attempt_ != nullptr || oauth_wait_ != nullptr; }
  // The interception plan and credentials decided for this CONNECT.
  const secrets::SandboxCredentials* credentials() const { return creds_; }
  const std::shared_ptr<const secrets::InterceptPlan>& plan() const { return plan_; }

 private:
  // The host (normalised; a host service — host.docker.internal, localhost,
  // a gateway address — becomes `localhost`) and its policy decision; false
  // when it ended the request (invalid host, denied).
  bool decideName(std::string_view text);
  void decideInterception();
  void connectUpstream();
  void onConnected(upstream::ConnectResult r);
  void forward(UniqueFd upstream);
  // Proxy-managed OAuth on a resource host: notes which credentials this
  // request carries the access sentinel of (oauth_sent_); when one's stored
  // access token has expired and a refresh is running or can start, asks
  // for it and parks the request (true: forward() runs again when it ends).
  bool parkForRefresh(UniqueFd& upstream);

  const StreamEnv& env_;
  StreamHost& host_;
  const sandbox::Sandbox* sandbox_ = nullptr;
  Clock::time_point start_;
  // The request as received: owned by the codec, valid until the stream
  // forwarded or ended it.
  const http::Request* request_ = nullptr;
  InterceptContext* ic_ = nullptr;  // inner requests only; owned by the connection
  std::string method_;
  Target target_ = Target::kOrigin;
  policy::Host host_name_;
  uint16_t port_ = 0;
  policy::Decision decision_;
  std::string address_;
  std::optional<policy::IpAddress> original_;  // transparent: the only address to reach
  bool original_resolved_ = false;
  std::string_view client_;  // "ip:port", owned by the connection
  std::string id_;
  double dns_ms_ = -1;
  double connect_ms_ = -1;
  double tls_ms_ = -1;
  bool intercepted_ = false;
  // The first-flight check of an opaque tunnel (PolicyRecord::sni, sni_check).
  std::string sni_;
  std::string_view sni_check_;
  BodyScrub body_scrub_;
  OAuthExchange oauth_;  // a request to an OAuth token endpoint
  // This response's scrub when OAuth tokens are newer than the snapshot.
  std::shared_ptr<const secrets::ScrubMatcher> live_scrub_;
  const secrets::SandboxCredentials* creds_ = nullptr;
  std::shared_ptr<const secrets::InterceptPlan> plan_;
  http::Request fwd_;  // the request as forwarded (kept for its capacity)
  std::unique_ptr<upstream::Attempt> attempt_;
  // Proxy-managed OAuth: the credentials whose access token this request
  // carries, with the generation it had (a 401 asks to replace exactly
  // that); the wait for a refresh, and the upstream held meanwhile.
  std::vector<std::pair<std::shared_ptr<secrets::OAuthSlot>, uint64_t>> oauth_sent_;
  std::unique_ptr<OAuthWaits::Ticket> oauth_wait_;
  bool oauth_waited_ = false;  // once per request
  UniqueFd parked_upstream_;
};

}  // namespace kitgate::stream
