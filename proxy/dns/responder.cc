#include "proxy/dns/responder.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/dns_struct.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

#include "proxy/config/config.h"
#include "proxy/dns/message.h"
#include "proxy/policy/host.h"

namespace kitgate::dns {
namespace {

using admin::DnsResult;
using admin::DnsTransport;

constexpr int kNoError = static_cast<int>(Rcode::kNoError);
constexpr size_t kMaxTcpOutput = 64 * 1024;  // answers the client has not read yet

std::string lowerName(std::string_view name) {
  std::string s(name);
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

bool isGatewayName(const std::string& name) {
  return name == "host.docker.internal" || name == "gateway.docker.internal";
}

const std::vector<policy::IpAddress>& loopback() {
  static const std::vector<policy::IpAddress> all = {policy::IpAddress::v4(0x7f000001),
                                                     *policy::IpAddress::parse("::1")};
  return all;
}

}  // namespace

// How an answer goes back: one per question, sent once (or dropped).
class Responder::Reply {
 public:
  explicit Reply(DnsTransport t) : transport(t) {}
  virtual ~Reply() = default;
  // `addresses` of the question's family become its answer records.
  virtual void send(int rcode, bool authoritative,
                    const std::vector<policy::IpAddress>& addresses) = 0;
  const DnsTransport transport;
};

// A UDP question through libevent's evdns server.
class Responder::UdpReply final : public Reply {
 public:
  UdpReply(evdns_server_request* req, int type)
      : Reply(DnsTransport::kUdp), req_(req), type_(type) {}
  ~UdpReply() override {
    if (!sent_) evdns_server_request_drop(req_);
  }
  void send(int rcode, bool authoritative,
            const std::vector<policy::IpAddress>& addresses) override {
    sent_ = true;
    if (authoritative) evdns_server_request_set_flags(req_, EVDNS_FLAGS_AA);
    const char* qname = req_->nquestions > 0 ? req_->questions[0]->name : "";
    for (const auto& a : addresses) {
      if (type_ == EVDNS_TYPE_A && a.isV4()) {
        evdns_server_request_add_a_reply(req_, qname, 1, a.bytes.data(), kAnswerTtlSeconds);
      } else if (type_ == EVDNS_TYPE_AAAA && a.isV6()) {
        evdns_server_request_add_aaaa_reply(req_, qname, 1, a.bytes.data(), kAnswerTtlSeconds);
      }
    }
    evdns_server_request_respond(req_, rcode);
  }

 private:
  evdns_server_request* req_;
  int type_;
  bool sent_ = false;
};

struct Responder::Port {
  Responder* responder = nullptr;
  std::string addr;
  policy::IpAddress local;
  UniqueFd fd;      // UDP
  UniqueFd tcp_fd;  // TCP listener, same address and port
  event* accept_ev = nullptr;
  evdns_server_port* port = nullptr;
};

// One TCP client: framed questions in, framed answers out. Reading pauses
// while max_pending questions are in flight or kMaxTcpOutput bytes of
// answers wait for the client to read them.
struct Responder::TcpConn : std::enable_shared_from_this<TcpConn> {
  Responder* responder = nullptr;
  bufferevent* bev = nullptr;
  Port* port = nullptr;
  policy::IpAddress client;
  size_t pending = 0;  // questions asked, not yet answered
  bool paused = false;
  ~TcpConn() {
    if (bev != nullptr) bufferevent_free(bev);  // also clears its callbacks
  }
  // Reads again (and the questions already buffered) once below both bounds.
  void resume() {
    if (!paused || pending >= responder->options_.tcp.max_pending ||
        evbuffer_get_length(bufferevent_get_output(bev)) >= kMaxTcpOutput) {
      return;
    }
    paused = false;
    bufferevent_enable(bev, EV_READ);
    bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
  }
};

// A TCP question: answered on its connection if that is still open.
class Responder::TcpReply final : public Reply {
 public:
  TcpReply(std::weak_ptr<TcpConn> conn, const Query& q)
      : Reply(DnsTransport::kTcp), conn_(std::move(conn)), query_(q), question_(q.question) {
    query_.question = question_;
  }
  ~TcpReply() override {
    if (!sent_) done();
  }
  void send(int rcode, bool authoritative,
            const std::vector<policy::IpAddress>& addresses) override {
    sent_ = true;
    auto conn = conn_.lock();
    if (!conn) return;
    const std::string msg =
        buildAnswer(query_, static_cast<Rcode>(rcode), authoritative, addresses, kAnswerTtlSeconds);
    const uint8_t len[2] = {static_cast<uint8_t>(msg.size() >> 8),
                            static_cast<uint8_t>(msg.size() & 0xff)};
    evbuffer* out = bufferevent_get_output(conn->bev);
    evbuffer_add(out, len, 2);
    evbuffer_add(out, msg.data(), msg.size());
    done();
  }

 private:
  // One question fewer in flight: the connection may read again.
  void done() {
    auto conn = conn_.lock();
    if (!conn) return;
    --conn->pending;
    conn->resume();
  }

  std::weak_ptr<TcpConn> conn_;
  Query query_;
  std::string question_;  // query_.question points here
  bool sent_ = false;
};

struct Responder::Pending {
  std::unique_ptr<Reply> reply;
  Inputs inputs;  // keeps the registry (and the sandbox pointer) alive
  const sandbox::Sandbox* sandbox = nullptr;
  policy::Host host;
  std::vector<uint16_t> ports;  // the ports the name is allowed on
  int type = 0;
  std::unique_ptr<tunnel::Lookup> lookup;
  bool resolving = false;  // inside resolver_.resolve()
  bool done = false;
};

Responder::Responder(event_base* base, tunnel::Resolver& resolver, NameMemory& memory,
                     const Clock& clock, InputsFn inputs, LogFn log, Options options)
    : base_(base),
      resolver_(resolver),
      memory_(memory),
      clock_(clock),
      inputs_(std::move(inputs)),
      log_(std::move(log)),
      options_(options) {}

Responder::~Responder() {
  for (auto& p : pending_) p->lookup.reset();
  pending_.clear();  // unanswered UDP questions are dropped
  tcp_.clear();
  for (auto& p : ports_) {
    evdns_close_server_port(p->port);
    if (p->accept_ev != nullptr) event_free(p->accept_ev);
  }
}

namespace {

// A non-blocking socket bound to ip:port; the error names the address.
StatusOr<UniqueFd> bindSocket(const policy::IpAddress& ip, uint16_t port, int type,
                              const std::string& addr) {
  sockaddr_storage ss{};
  socklen_t len = ip.toSockaddr(port, &ss);
  UniqueFd fd(::socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::error("dns socket: " + std::string(std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return Status::error("cannot serve DNS (" + std::string(type == SOCK_STREAM ? "TCP" : "UDP") +
                         ") on " + addr + ": " + std::strerror(errno));
  }
  if (type == SOCK_STREAM && ::listen(fd.get(), 128) != 0) {
    return Status::error("cannot serve DNS (TCP) on " + addr + ": " + std::strerror(errno));
  }
  return fd;
}

uint16_t boundPort(int fd) {
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
  return bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                     : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

}  // namespace

Status Responder::listen(std::vector<std::string>& addresses) {
  std::vector<std::unique_ptr<Port>> added;
  for (auto& addr : addresses) {
    if (std::find(addrs_.begin(), addrs_.end(), addr) != addrs_.end()) continue;
    std::string host;
    uint16_t port = 0;
    std::optional<policy::IpAddress> ip;
    if (config::splitHostPort(addr, &host, &port)) ip = policy::IpAddress::parse(host);
    if (!ip) return Status::error("bad dns_listen address " + addr);
    auto p = std::make_unique<Port>();
    p->responder = this;
    p->local = *ip;
    // Port 0: a port free for UDP and TCP both (a few tries: the port UDP
    // got may be taken for TCP).
    uint16_t bport = port;
    for (int attempt = 0;; ++attempt) {
      auto udp = bindSocket(*ip, port, SOCK_DGRAM, addr);
      if (!udp) return udp.status();
      bport = boundPort(udp->get());
      auto tcp = bindSocket(*ip, bport, SOCK_STREAM, addr);
      if (tcp) {
        p->fd = std::move(udp.value());
        p->tcp_fd = std::move(tcp.value());
        break;
      }
      if (port != 0 || attempt == 16) return tcp.status();
    }
    addr = (ip->isV6() ? "[" + ip->toString() + "]" : ip->toString()) + ":" + std::to_string(bport);
    p->addr = addr;
    added.push_back(std::move(p));
  }
  // Everything bound: start the new ones, close the ones no longer wanted.
  for (auto& p : added) {
    p->port =
        evdns_add_server_port_with_base(base_, p->fd.get(), 0, &Responder::onRequest, p.get());
    if (p->port == nullptr) return Status::error("evdns server port on " + p->addr + " failed");
    p->accept_ev =
        event_new(base_, p->tcp_fd.get(), EV_READ | EV_PERSIST, &Responder::onAccept, p.get());
    event_add(p->accept_ev, nullptr);
    spdlog::info("serving sandbox DNS on {} (UDP and TCP)", p->addr);
    ports_.push_back(std::move(p));
  }
  for (auto it = ports_.begin(); it != ports_.end();) {
    if (std::find(addresses.begin(), addresses.end(), (*it)->addr) == addresses.end()) {
      Port* gone = it->get();
      for (auto c = tcp_.begin(); c != tcp_.end();) {
        auto next = std::next(c);
        if ((*c)->port == gone) closeTcp(**c);
        c = next;
      }
      evdns_close_server_port(gone->port);
      event_free(gone->accept_ev);
      spdlog::info("stopped serving DNS on {}", gone->addr);
      it = ports_.erase(it);
    } else {
      ++it;
    }
  }
  addrs_ = addresses;
  return Status::ok();
}

// ---------------------------------------------------------------- UDP

void Responder::onRequest(evdns_server_request* req, void* arg) {
  auto* port = static_cast<Port*>(arg);
  Question q;
  q.transport = DnsTransport::kUdp;
  q.gateway = port->local;
  q.count = req->nquestions;
  if (req->nquestions >= 1) {
    q.name = req->questions[0]->name;
    q.type = req->questions[0]->type;
    q.klass = req->questions[0]->dns_question_class;
  }
  sockaddr_storage ss{};
  // Returns the address's length (libevent 2.1), -1 when it does not fit.
  const int len =
      evdns_server_request_get_requesting_addr(req, reinterpret_cast<sockaddr*>(&ss), sizeof ss);
  if (len > 0) {
    q.client = policy::IpAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&ss),
                                               static_cast<socklen_t>(len));
  }
  port->responder->answer(q, std::make_unique<UdpReply>(req, q.type));
}

// ---------------------------------------------------------------- TCP

void Responder::onAccept(evutil_socket_t fd, short, void* arg) {
  auto* port = static_cast<Port*>(arg);
  Responder& r = *port->responder;
  const TcpLimits& limits = r.options_.tcp;
  for (int i = 0; i < 16; ++i) {  // a batch, then back to the loop
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    UniqueFd c(::accept4(fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!c.valid()) return;  // EAGAIN, or out of descriptors: the next readiness retries
    auto client = policy::IpAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    if (!client) continue;
    size_t& from_source = r.tcp_per_source_[*client];
    if (from_source >= limits.max_per_source || r.tcp_.size() >= limits.max_connections) {
      if (from_source == 0) r.tcp_per_source_.erase(*client);
      continue;  // closed unanswered
    }
    ++from_source;
    auto conn = std::make_shared<TcpConn>();
    conn->responder = &r;
    conn->port = port;
    conn->client = *client;
    conn->bev = bufferevent_socket_new(r.base_, c.release(), BEV_OPT_CLOSE_ON_FREE);
    r.tcp_.push_back(conn);
    const auto ms = limits.idle.count();
    const timeval idle{static_cast<time_t>(ms / 1000),
                       static_cast<suseconds_t>((ms % 1000) * 1000)};
    bufferevent_set_timeouts(conn->bev, &idle, &idle);
    bufferevent_setcb(conn->bev, &Responder::onTcpRead, &Responder::onTcpWritten,
                      &Responder::onTcpEvent, conn.get());
    bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
  }
}

void Responder::onTcpRead(bufferevent*, void* arg) {
  auto* c = static_cast<TcpConn*>(arg);
  c->responder->readTcp(*c);
}

void Responder::onTcpWritten(bufferevent*, void* arg) {
  static_cast<TcpConn*>(arg)->resume();  // the client read its answers
}

void Responder::onTcpEvent(bufferevent*, short, void* arg) {
  auto* c = static_cast<TcpConn*>(arg);
  c->responder->closeTcp(*c);  // EOF, error or the idle timeout
}

void Responder::readTcp(TcpConn& c) {
  evbuffer* in = bufferevent_get_input(c.bev);
  const TcpLimits& limits = options_.tcp;
  if (c.paused) return;
  std::shared_ptr<TcpConn> self = c.shared_from_this();  // alive until this returns
  for (;;) {
    if (c.pending >= limits.max_pending ||
        evbuffer_get_length(bufferevent_get_output(c.bev)) >= kMaxTcpOutput) {
      c.paused = true;  // resume() reads again
      bufferevent_disable(c.bev, EV_READ);
      return;
    }
    uint8_t len_bytes[2];
    if (evbuffer_copyout(in, len_bytes, 2) < 2) return;
    const size_t len = (static_cast<size_t>(len_bytes[0]) << 8) | len_bytes[1];
    if (len > limits.max_message || len < 12) {
      if (options_.metrics) options_.metrics->query(DnsTransport::kTcp, DnsResult::kError);
      closeTcp(c);  // not a query kitgate answers: nothing after it can be framed
      return;
    }
    if (evbuffer_get_length(in) < 2 + len) return;
    evbuffer_drain(in, 2);
    std::string msg(len, '\0');
    evbuffer_remove(in, msg.data(), len);
    Query query;
    const ParseResult parsed = parseQuery(msg, &query);
    if (parsed == ParseResult::kNotQuery) continue;  // a response: never answered
    ++c.pending;
    auto reply = std::make_unique<TcpReply>(self, query);
    if (parsed != ParseResult::kOk) {
      respond(
          *reply,
          static_cast<int>(parsed == ParseResult::kMalformed ? Rcode::kFormErr : Rcode::kNotImp),
          false, {}, DnsResult::kError);
      continue;
    }
    Question q;
    q.transport = DnsTransport::kTcp;
    q.client = c.client;
    q.gateway = c.port->local;
    q.count = query.qdcount;
    q.name = query.name;
    q.type = query.type;
    q.klass = query.klass;
    answer(q, std::move(reply));
  }
}

void Responder::closeTcp(TcpConn& c) {
  auto it = std::find_if(tcp_.begin(), tcp_.end(),
                         [&c](const std::shared_ptr<TcpConn>& p) { return p.get() == &c; });
  if (it == tcp_.end()) return;
  auto src = tcp_per_source_.find(c.client);
  if (src != tcp_per_source_.end() && --src->second == 0) tcp_per_source_.erase(src);
  tcp_.erase(it);  // pending replies find it gone
}

// ---------------------------------------------------------------- questions

void Responder::respond(Reply& reply, int rcode, bool authoritative,
                        const std::vector<policy::IpAddress>& addresses, DnsResult result) {
  if (options_.metrics) options_.metrics->query(reply.transport, result);
  reply.send(rcode, authoritative, addresses);
}

void Responder::answer(const Question& q, std::unique_ptr<Reply> reply) {
  if (q.count != 1 || q.klass != EVDNS_CLASS_INET) {
    respond(*reply, static_cast<int>(Rcode::kNotImp), false, {}, DnsResult::kError);
    return;
  }
  Inputs in = inputs_();
  const sandbox::Sandbox* sandbox =
      q.client && in.registry ? in.registry->identifyBySource(*q.client) : nullptr;
  if (sandbox == nullptr) {
    respond(*reply, static_cast<int>(Rcode::kRefused), false, {}, DnsResult::kRefused);
    return;
  }
  const std::string name = lowerName(q.name);
  if (isGatewayName(name)) {  // host services: the gateway this question came to
    respond(*reply, kNoError, true, {q.gateway}, DnsResult::kAnswered);
    return;
  }
  if (name == policy::kHostServiceName) {  // the sandbox itself (RFC 6761), never remembered
    respond(*reply, kNoError, true, loopback(), DnsResult::kAnswered);
    return;
  }
  auto host = policy::normalizeHost(name, policy::Ipv6Brackets::kOptional);
  if (!host || host->isIp()) {
    respond(*reply, static_cast<int>(Rcode::kNxDomain), true, {}, DnsResult::kNxdomain);
    return;
  }
  std::vector<uint16_t> ports = sandbox->policy().allowedPorts(*host);
  if (ports.empty()) {
    logDenied(sandbox->name(), q.client->toString(), host->text,
              sandbox->policy().evaluate(*host, 443).reason);
    respond(*reply, static_cast<int>(Rcode::kNxDomain), true, {}, DnsResult::kBlocked);
    return;
  }
  if (q.type != EVDNS_TYPE_A && q.type != EVDNS_TYPE_AAAA) {
    // The name exists; no such records from us.
    respond(*reply, kNoError, true, {}, DnsResult::kAnswered);
    return;
  }
  auto p = std::make_unique<Pending>();
  p->reply = std::move(reply);
  p->inputs = std::move(in);
  p->sandbox = sandbox;
  p->host = std::move(host.value());
  p->ports = std::move(ports);
  p->type = q.type;
  Pending* raw = p.get();
  pending_.push_back(std::move(p));
  if (raw->inputs.static_hosts) {
    auto it = raw->inputs.static_hosts->find(raw->host.text);
    if (it != raw->inputs.static_hosts->end()) {
      finish(*raw, tunnel::ResolveResult{it->second, {}});
      return;
    }
  }
  raw->resolving = true;
  auto lookup =
      resolver_.resolve(raw->host.text, [this, raw](tunnel::ResolveResult r) { finish(*raw, r); });
  raw->resolving = false;
  if (raw->done) {
    finish(*raw, {});  // answered synchronously: only the clean-up is left
  } else {
    raw->lookup = std::move(lookup);
  }
}

void Responder::finish(Pending& p, tunnel::ResolveResult r) {
  if (!p.done) {
    p.done = true;
    if (r.addresses.empty()) {
      respond(*p.reply, static_cast<int>(Rcode::kNxDomain), true, {}, DnsResult::kNxdomain);
    } else {
      // An address is answered when the address check lets it through on
      // some port the name is allowed on.
      static const policy::SelfAddresses kNoSelf;
      const policy::SelfAddresses& self = p.inputs.self ? *p.inputs.self : kNoSelf;
      const policy::Policy& pol = p.sandbox->policy();
      std::vector<policy::IpAddress> answered;
      for (const auto& a : r.addresses) {
        for (uint16_t port : p.ports) {
          if (!pol.checkAddress(a, port, pol.evaluate(p.host, port), self).denied()) {
            answered.push_back(a);
            break;
          }
        }
      }
      const auto now = clock_.now();
      for (const auto& a : answered) {
        if ((p.type == EVDNS_TYPE_A) == a.isV4())
          memory_.remember(p.sandbox->name(), a, p.host.text, now);
      }
      respond(*p.reply, kNoError, true, answered, DnsResult::kAnswered);
    }
  }
  if (p.resolving) return;  // answer() cleans up once resolve() returned
  // Deleting the Pending destroys the Lookup whose callback this may be:
  // the resolver allows that (its callback has run).
  auto it = std::find_if(pending_.begin(), pending_.end(),
                         [&p](const std::unique_ptr<Pending>& x) { return x.get() == &p; });
  if (it != pending_.end()) pending_.erase(it);
}

void Responder::logDenied(const std::string& sandbox, const std::string& client,
                          const std::string& host, const std::string& reason) {
  admin::PolicyRecord r;
  r.event = admin::PolicyEvent::kClose;
  r.sandbox = sandbox;
  r.client = client;
  r.type = "dns";
  r.host = host;
  r.allowed = false;
  r.reason = reason;
  r.error = "policy-deny";
  log_(r);
}

}  // namespace kitgate::dns
