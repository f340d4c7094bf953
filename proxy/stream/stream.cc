#include "proxy/stream/stream.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "proxy/secrets/rewrite.h"

namespace kitgate::stream {

void Stream::begin(const sandbox::Sandbox* sandbox, Clock::time_point start) {
  sandbox_ = sandbox;
  start_ = start;
  request_ = nullptr;
  ic_ = nullptr;
  method_.clear();
  target_ = Target::kOrigin;
  host_name_ = {};
  port_ = 0;
  decision_ = {};
  address_.clear();
  original_.reset();
  original_resolved_ = false;
  sni_.clear();
  sni_check_ = {};
  dns_ms_ = connect_ms_ = tls_ms_ = -1;
  creds_ = nullptr;
  plan_.reset();
  attempt_.reset();
  oauth_sent_.clear();
  oauth_wait_.reset();
  oauth_waited_ = false;
  parked_upstream_.reset();
}

void Stream::describe(std::string_view method, Target target, uint16_t port,
                      const InterceptContext* ic) {
  method_.assign(method);
  target_ = target;
  port_ = port;
  if (ic != nullptr) {
    host_name_ = ic->host;
    decision_ = ic->decision;
    address_ = ic->address;
  }
}

// ---------------------------------------------------------------- explicit proxy requests

void Stream::onProxyRequest(const http::Request& request, Target target) {
  request_ = &request;
  describe(request.method, target, request.port);
  if (target != Target::kConnect && target != Target::kAbsolute) {
    end(EndReason::kNotProxyRequest);
    return;
  }
  if (!decideName(request.host)) return;
  if (target == Target::kConnect) {
    decideInterception();
    if (decision_.interception.intercept &&
        host_.reuseIdleUpstream(host_name_, port_, decision_, address_)) {
      host_.intercept(UniqueFd());
      return;
    }
  } else if (host_.keepUpstreamFor(host_name_, port_) ||
             host_.reuseIdleUpstream(host_name_, port_, decision_, address_)) {
    forward(UniqueFd());
    return;
  }
  connectUpstream();
}

bool Stream::decideName(std::string_view text) {
  auto host = policy::normalizeHost(text, policy::Ipv6Brackets::kOptional);
  if (!host) {
    end(EndReason::kInvalidHost, host.status().message());
    return false;
  }
  host_name_ = std::move(host.value());
  const bool gateway = host_name_.isIp() && env_.gateways != nullptr &&
                       std::find(env_.gateways->begin(), env_.gateways->end(), host_name_.ip) !=
                           env_.gateways->end();
  if (gateway || (!host_name_.isIp() && policy::isHostServiceName(host_name_.text))) {
    host_name_ = {};  // sbx's normalisation: the host's loopback is `localhost` to policy
    host_name_.text = policy::kHostServiceName;
  }
  decision_ = sandbox_->policy().evaluate(host_name_, port_);
  if (decision_.denied()) {
    end(EndReason::kPolicyDeny, decision_.reason);
    return false;
  }
  return true;
}

void Stream::decideInterception() {
  // Computed once per CONNECT from the snapshot the connection pinned; the
  // connection only executes it.
  policy::InterceptFacts f;
  f.tls_configured = env_.tls_configured;
  creds_ = env_.secrets ? env_.secrets->forSandbox(sandbox_->name()) : nullptr;
  f.credentials_bound = creds_ != nullptr;
  plan_ = creds_ != nullptr ? creds_->planFor(host_name_) : nullptr;
  f.host_has_plan = plan_ != nullptr;
  if (env_.minters) {
    auto it = env_.minters->find(sandbox_->name());
    f.sandbox_has_ca = it != env_.minters->end() && it->second != nullptr;
  }
  if (plan_) f.plan = plan_->toString();
  decision_.interception = policy::decideInterception(decision_, f);
  SPDLOG_DEBUG("sandbox {}: CONNECT {}: {}", sandbox_->name(), host_name_.text,
               decision_.interception.reason);
}

// ---------------------------------------------------------------- transparent connections

namespace {
policy::Host hostOf(const policy::IpAddress& ip) {
  policy::Host h;
  h.kind = ip.isV6() ? policy::Host::Kind::kIpv6 : policy::Host::Kind::kIpv4;
  h.text = ip.toString();
  h.ip = ip;
  return h;
}
}  // namespace

bool Stream::addressAllowed(const sandbox::Sandbox& sandbox, const policy::IpAddress& ip,
                            uint16_t port) {
  return !sandbox.policy().evaluate(hostOf(ip), port).denied();
}

void Stream::describe(const TransparentTarget& t) {
  describe({}, Target::kTransparent, t.port);
  original_ = t.address;
  original_resolved_ = t.source == TransparentTarget::NameSource::kDns;
  address_ = t.address.toString();
  host_name_ = hostOf(t.address);
}

void Stream::onTransparent(const TransparentTarget& t) {
  describe(t);
  if (sandbox_ == nullptr) {
    end(EndReason::kUnauthenticated);
    return;
  }
  if (t.source == TransparentTarget::NameSource::kHostService) {
    original_.reset();  // the host's loopback, not the gateway address dialled
    if (!decideName(policy::kHostServiceName)) return;
    connectUpstream();
    return;
  }
  if (!decideName(t.name.empty() ? std::string_view(host_name_.text) : std::string_view(t.name)))
    return;
  if (decision_.host_service) {
    // A name for the host's loopback toward another address: going to the
    // host would re-route by payload, going to the address would let a
    // host-service rule allow it.
    decision_.verdict = policy::Decision::Verdict::kDeny;
    decision_.rule = {};
    decision_.reason =
        "the name " + t.name + " is a host service, reached through the gateway only";
    end(EndReason::kPolicyDeny, decision_.reason);
    return;
  }
  connectUpstream();
}

// ---------------------------------------------------------------- first flight of a tunnel

bool Stream::onFirstFlight(const tls::ClientHelloPeek& peek, bool client_eof) {
  using Result = tls::ClientHelloPeek::Result;
  auto count = [this](admin::TunnelSni what, std::string_view note) {
    env_.metrics->tunnel_sni[admin::idx(what)].add();
    sni_check_ = note;
  };
  auto refuse = [&](std::string_view why) {
    count(admin::TunnelSni::kRefused, "refused");
    end(EndReason::kTunnelRefused, why);
    return false;
  };
  switch (peek.result) {
    case Result::kNotTls:
      count(admin::TunnelSni::kNotTls, "not-tls");
      return true;
    case Result::kIncomplete:
      return refuse(client_eof ? "the client closed inside its TLS ClientHello"
                               : "an incomplete TLS ClientHello");
    case Result::kMalformed:
      return refuse("its TLS ClientHello cannot be read (malformed or too large)");
    case Result::kHello:
      break;
  }
  if (peek.sni.empty()) {
    count(admin::TunnelSni::kAbsent, "absent");
    return true;
  }
  sni_ = peek.sni;
  auto name = policy::normalizeHost(peek.sni, policy::Ipv6Brackets::kOptional);
  if (name && (name->text == host_name_.text ||
               (decision_.host_service && policy::isHostServiceName(name->text)))) {
    count(admin::TunnelSni::kMatch, "match");
    return true;
  }
  // Another name. A transparent connection was decided on the DNS name that
  // gave this address: the hello must carry it. A CONNECT may carry a name a
  // name rule (or `**`) allows on this port — one origin under several
  // names; address rules allow addresses, not every name served there.
  if (name && isConnect() && sandbox_->policy().evaluate(*name, port_).allowed()) {
    count(admin::TunnelSni::kOtherAllowed, "other-allowed");
    return true;
  }
  return refuse("TLS SNI " + peek.sni +
                (isConnect() ? " is neither the CONNECT host nor allowed by policy"
                             : " is not the name kitgate's DNS gave for this address"));
}

void Stream::onServerFirst() {
  env_.metrics->tunnel_sni[admin::idx(admin::TunnelSni::kServerFirst)].add();
  sni_check_ = "server-first";
}

// ---------------------------------------------------------------- intercepted requests

void Stream::onInnerRequest(const http::Request& request, Target target, InterceptContext& ic) {
  request_ = &request;
  ic_ = &ic;
  intercepted_ = true;
  describe(request.method, target, ic.port, &ic);  // every inner request goes to the CONNECT target
  creds_ = ic.creds;
  plan_ = ic.plan;
  if (target != Target::kOrigin) {
    end(EndReason::kNotOriginForm);
    return;
  }
  auto host = policy::normalizeHost(request.host, policy::Ipv6Brackets::kOptional);
  const uint16_t port = request.port != 0 ? request.port : 443;
  const bool host_ok = host && host->text == ic.host.text && port == ic.port;
  bool sni_ok = ic.sni.empty();
  if (!sni_ok) {
    auto sni = policy::normalizeHost(ic.sni, policy::Ipv6Brackets::kOptional);
    sni_ok = sni && sni->text == ic.host.text;
  }
  if (!host_ok || !sni_ok) {
    end(EndReason::kMisdirected, !host_ok ? "Host header" : "TLS SNI");
    return;
  }
  if (!ic.upstream_error.empty()) {
    end(EndReason::kUpstreamTlsFailure, std::exchange(ic.upstream_error, {}));
    return;
  }
  if (host_.keepUpstreamFor(host_name_, port_)) {
    forward(UniqueFd());
    return;
  }
  // The upstream ended keep-alive: connect again (same host, same address
  // checks); the connection redoes the TLS leg before it forwards.
  connectUpstream();
}

// ---------------------------------------------------------------- upstream

void Stream::connectUpstream() {
  upstream::ConnectRequest req;
  req.policy = &sandbox_->policy();
  req.decision = decision_;
  req.host = host_name_;
  req.port = port_;
  req.original = original_;
  req.original_resolved = original_resolved_;
  attempt_ = env_.connector->connect(
      std::move(req), [this](upstream::ConnectResult r) { onConnected(std::move(r)); });
}

void Stream::onConnected(upstream::ConnectResult r) {
  attempt_.reset();
  address_ = std::move(r.address);
  dns_ms_ = r.dns_ms;
  connect_ms_ = r.connect_ms;
  switch (r.outcome) {
    case upstream::Outcome::kDnsFailure:
      end(EndReason::kDnsFailure, r.detail);
      return;
    case upstream::Outcome::kDnsTimeout:
      end(EndReason::kDnsTimeout);
      return;
    case upstream::Outcome::kAddressBlocked:
      decision_ = std::move(r.decision);  // the addresses decided, not the name rule
      end(EndReason::kAddressBlocked, decision_.reason);
      return;
    case upstream::Outcome::kConnectFailed:
      end(EndReason::kConnectFailed, r.detail);
      return;
    case upstream::Outcome::kConnectTimeout:
      end(EndReason::kConnectTimeout);
      return;
    case upstream::Outcome::kConnected:
      break;
  }
  decision_ = std::move(r.decision);  // final: kAllow, never kCheckAddress
  if (ic_ != nullptr) {
    ic_->address = address_;
    forward(std::move(r.fd));
  } else if (target_ == Target::kConnect || target_ == Target::kTransparent) {
    if (decision_.interception.intercept) {  // decided for CONNECT only
      host_.intercept(std::move(r.fd));
    } else {
      host_.tunnel(std::move(r.fd));
    }
  } else {
    forward(std::move(r.fd));
  }
}

bool Stream::parkForRefresh(UniqueFd& upstream) {
  oauth_sent_.clear();
  const int64_t now_ms = secrets::unixMillisNow();
  std::shared_ptr<secrets::OAuthSlot> dead;
  uint64_t dead_generation = 0;
  for (const secrets::OAuthUse& use : plan_->oauth_resources) {
    const std::string& sentinel = use.route->access_sentinel;
    if (sentinel.empty()) continue;
    const bool carries =
        std::any_of(request_->headers.begin(), request_->headers.end(), [&](const http::Header& h) {
          return !http::equalsIgnoreCase(h.name, "host") &&
                 h.value.find(sentinel) != std::string::npos;
        });
    if (!carries) continue;
    const uint64_t generation = use.slot->generation();  // before current(): see oauth.h
    const auto tokens = use.slot->current();
    if (!tokens || tokens->access_token.empty()) continue;  // no login: the sentinel goes out
    oauth_sent_.emplace_back(use.slot, generation);
    if (dead == nullptr && !tokens->refresh_token.empty() && tokens->expires_at_ms > 0 &&
        now_ms >= tokens->expires_at_ms && use.slot->refreshAvailable(now_ms)) {
      dead = use.slot;
      dead_generation = generation;
    }
  }
  if (dead == nullptr || oauth_waited_) return false;
  dead->requestRefresh(dead_generation);
  if (env_.oauth_waits == nullptr || !host_.holdForRefresh()) return false;
  parked_upstream_ = std::move(upstream);
  oauth_wait_ = env_.oauth_waits->wait(dead.get(), kOAuthWaitLimit, [this](OAuthWaits::Outcome o) {
    oauth_waited_ = true;
    env_.metrics
        ->oauth_waits[o == OAuthWaits::Outcome::kTimedOut
                          ? admin::idx(admin::OAuthWait::kTimedOut)
                          : admin::idx(admin::OAuthWait::kRefreshEnded)]
        .add();
    oauth_wait_.reset();
    forward(std::move(parked_upstream_));
  });
  return true;
}

void Stream::forward(UniqueFd upstream) {
  if (intercepted_ && plan_ && !plan_->oauth_resources.empty() && parkForRefresh(upstream)) return;
  // The request as forwarded: a copy of the one received (assignment keeps
  // the strings' capacity from the previous request on this connection).
  const http::Request& in = *request_;
  fwd_.method = in.method;
  fwd_.scheme = intercepted_ ? std::string_view("https") : std::string_view(in.scheme);
  fwd_.host = host_name_.text;
  fwd_.port = port_;
  fwd_.path = in.path;
  fwd_.headers = in.headers;
  oauth_.begin(intercepted_ ? plan_.get() : nullptr, in, port_);
  if (intercepted_) {
    if ((creds_ != nullptr && !creds_->scrubMatcher().empty()) || oauth_.active()) {
      // The response body is scrubbed of the sandbox's secrets: ask for it
      // uncompressed so there is something to scrub.
      std::erase_if(fwd_.headers, [](const http::Header& h) {
        return http::equalsIgnoreCase(h.name, "accept-encoding");
      });
      fwd_.headers.push_back(http::Header{"Accept-Encoding", "identity"});
    }
    std::string unavailable;
    secrets::RewriteCounts counts;
    Status st = secrets::rewriteRequest(*plan_, fwd_, &unavailable, &counts);
    for (uint32_t i = 0; i < counts.header; ++i)
      env_.metrics->credentialInjected(admin::Injection::kHeader);
    for (uint32_t i = 0; i < counts.placeholder; ++i)
      env_.metrics->credentialInjected(admin::Injection::kPlaceholder);
    for (uint32_t i = 0; i < counts.basic; ++i)
      env_.metrics->credentialInjected(admin::Injection::kBasic);
    if (!st) {
      // A bound value that cannot be written as a header value was skipped
      // (the request goes out without it); say so once, without the value.
      spdlog::warn("sandbox {}: {}", sandbox_->name(), st.message());
    }
    if (!unavailable.empty()) {
      end(EndReason::kCredentialUnavailable, unavailable);
      return;
    }
  }
  env_.metrics->request(admin::ReqType::kHttp, admin::Verdict::kAllowed,
                        admin::ProxyPath::kForward);
  host_.forward(std::move(upstream), fwd_);
}

bool Stream::onResponseHead(http::ResponseHead& head) {
  body_scrub_.begin(nullptr);
  if (!intercepted_ || creds_ == nullptr) return false;
  oauth_.noteStatus(head, sandbox_ != nullptr ? sandbox_->name() : "-");
  if (head.status == 401) {
    // The origin refused the access token the proxy put in: have it
    // refreshed (once, whatever the number of such answers); the 401 itself
    // goes on to the sandbox.
    for (const auto& [slot, generation] : oauth_sent_) slot->requestRefresh(generation);
  }
  live_scrub_ = creds_->liveOAuthScrub();  // OAuth tokens newer than the snapshot
  const secrets::ScrubMatcher& matcher = live_scrub_ ? *live_scrub_ : creds_->scrubMatcher();
  secrets::scrubResponse(matcher, head);
  if (head.isInterim() || head.framing == http::BodyFraming::kNone ||
      head.framing == http::BodyFraming::kTunnel ||
      (matcher.empty() && !(oauth_.active() && oauth_.onResponseHead(head)))) {
    return false;
  }
  const http::Header* encoding = http::findHeader(head.headers, "content-encoding");
  if (encoding != nullptr && !http::equalsIgnoreCase(encoding->value, "identity")) {
    spdlog::warn(
        "sandbox {}: {} sent a {}-encoded body although asked for identity: passed unscrubbed",
        sandbox_ != nullptr ? sandbox_->name() : "-", host_name_.text, encoding->value);
    return false;
  }
  if (oauth_.active()) oauth_.onResponseHead(head);
  body_scrub_.begin(&matcher);
  return true;
}

void Stream::scrubBody(evbuffer* payload, evbuffer* out, bool last) {
  uint32_t replaced = 0;
  if (oauth_.active()) {
    replaced = oauth_.responseBody(payload, out, last, body_scrub_,
                                   sandbox_ != nullptr ? sandbox_->name() : "-");
  } else {
    replaced = body_scrub_.move(payload, out);
    if (last) replaced += body_scrub_.finish(out);
  }
  if (replaced > 0) {
    // The origin echoed a secret: worth knowing (which host, how often),
    // never what.
    spdlog::warn("sandbox {}: a response from {} carried a secret; {} cop{} replaced",
                 sandbox_ != nullptr ? sandbox_->name() : "-", host_name_.text, replaced,
                 replaced == 1 ? "y" : "ies");
  }
}

// ---------------------------------------------------------------- endings

void Stream::end(EndReason reason, std::string_view detail, int status) {
  attempt_.reset();
  countEnd(reason, *env_.metrics, status);
  env_.metrics->requestDone(reqType(), env_.clock->now() - start_);
  const std::string authority = host_name_.text.empty() ? std::string() : host_name_.authority();
  EndResponse e = describeEnd(reason, {host_name_.text, authority, port_}, detail, status);
  if (e.policy_block) {
    env_.metrics->request(reqType(), admin::Verdict::kBlocked, admin::ProxyPath::kNone);
  }
  logLine(false, e.status, e.log, 0, 0, admin::PolicyEvent::kClose, toString(reason));
  host_.reply(e);
}

void Stream::answered() {
  env_.metrics->requestDone(reqType(), env_.clock->now() - start_);
  logLine(true, 200,
          intercepted_ ? std::string_view(decision_.interception.reason)
                       : (decision_.reason.empty() ? std::string_view("allowed")
                                                   : std::string_view(decision_.reason)),
          0, 0, admin::PolicyEvent::kOpen);
}

void Stream::complete(int status, uint64_t bytes_up, uint64_t bytes_down, bool count_bytes) {
  if (count_bytes) {
    env_.metrics->bytes_up.add(bytes_up);
    env_.metrics->bytes_down.add(bytes_down);
  }
  if (!isConnect() && !isTransparent())
    env_.metrics->requestDone(admin::ReqType::kHttp, env_.clock->now() - start_);
  logLine(
      true, status,
      decision_.reason.empty() ? std::string_view("allowed") : std::string_view(decision_.reason),
      bytes_up, bytes_down);
}

void Stream::logLine(bool allowed, int status, std::string_view reason, uint64_t up, uint64_t down,
                     admin::PolicyEvent event, std::string_view error) {
  admin::PolicyRecord r;
  r.event = event;
  r.id = id_;
  r.client = client_;
  r.dns_ms = dns_ms_;
  r.connect_ms = connect_ms_;
  r.tls_ms = tls_ms_;
  r.error = error;
  r.sni = sni_;
  r.sni_check = sni_check_;
  r.sandbox = sandbox_ ? std::string_view(sandbox_->name()) : std::string_view("-");
  r.type = isTransparent() ? "transparent" : isConnect() ? "connect" : "http";
  r.method = method_;
  r.host = host_name_.text;
  r.port = port_;
  r.address = address_;
  r.allowed = allowed;
  r.rule = decision_.rule;
  r.reason = reason;
  r.proxy = !allowed                       ? ""
            : isTransparent()              ? "transparent"
            : isConnect() && !intercepted_ ? "forward-bypass"
                                           : "forward";
  r.status = status;
  r.bytes_up = up;
  r.bytes_down = down;
  r.duration_ms = std::chrono::duration<double, std::milli>(env_.clock->now() - start_).count();
  host_.log(r);
}

}  // namespace kitgate::stream
