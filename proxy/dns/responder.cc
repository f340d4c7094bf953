#include "proxy/dns/responder.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/dns_struct.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/config/config.h"
#include "proxy/policy/host.h"

namespace kitgate::dns {
namespace {

constexpr int kNoError = 0;
constexpr int kNotImplemented = 4;

std::string lowerName(const char* name) {
  std::string s(name);
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

bool isGatewayName(const std::string& name) {
  return name == "host.docker.internal" || name == "gateway.docker.internal";
}

// Adds `addresses` of the question's family as answers.
void addAnswers(evdns_server_request* req, const char* qname, int type,
                const std::vector<policy::IpAddress>& addresses) {
  for (const auto& a : addresses) {
    if (type == EVDNS_TYPE_A && a.isV4()) {
      evdns_server_request_add_a_reply(req, qname, 1, a.bytes.data(), kAnswerTtlSeconds);
    } else if (type == EVDNS_TYPE_AAAA && a.isV6()) {
      evdns_server_request_add_aaaa_reply(req, qname, 1, a.bytes.data(), kAnswerTtlSeconds);
    }
  }
}

}  // namespace

struct Responder::Port {
  Responder* responder = nullptr;
  std::string addr;
  policy::IpAddress local;
  UniqueFd fd;
  evdns_server_port* port = nullptr;
};

struct Responder::Pending {
  evdns_server_request* req = nullptr;
  Inputs inputs;  // keeps the registry (and the sandbox pointer) alive
  const sandbox::Sandbox* sandbox = nullptr;
  policy::Host host;
  std::vector<uint16_t> ports;  // the ports the name is allowed on
  int type = 0;
  std::string qname;  // as asked (answers repeat it)
  std::unique_ptr<tunnel::Lookup> lookup;
  bool resolving = false;  // inside resolver_.resolve()
  bool done = false;
};

Responder::Responder(event_base* base, tunnel::Resolver& resolver, NameMemory& memory,
                     const Clock& clock, InputsFn inputs, LogFn log)
    : base_(base),
      resolver_(resolver),
      memory_(memory),
      clock_(clock),
      inputs_(std::move(inputs)),
      log_(std::move(log)) {}

Responder::~Responder() {
  for (auto& p : pending_) {
    p->lookup.reset();
    if (!p->done) evdns_server_request_drop(p->req);
  }
  for (auto& p : ports_) evdns_close_server_port(p->port);
}

Status Responder::listen(std::vector<std::string>& addresses) {
  std::vector<std::unique_ptr<Port>> added;
  for (auto& addr : addresses) {
    if (std::find(addrs_.begin(), addrs_.end(), addr) != addrs_.end()) continue;
    std::string host;
    uint16_t port = 0;
    std::optional<policy::IpAddress> ip;
    if (config::splitHostPort(addr, &host, &port)) ip = policy::IpAddress::parse(host);
    if (!ip) return Status::error("bad dns_listen address " + addr);
    sockaddr_storage ss{};
    socklen_t len = ip->toSockaddr(port, &ss);
    auto p = std::make_unique<Port>();
    p->responder = this;
    p->local = *ip;
    p->fd.reset(::socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!p->fd.valid()) return Status::error("dns socket: " + std::string(std::strerror(errno)));
    int one = 1;
    ::setsockopt(p->fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(p->fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      return Status::error("cannot serve DNS on " + addr + ": " + std::strerror(errno));
    }
    sockaddr_storage bound{};
    socklen_t blen = sizeof bound;
    ::getsockname(p->fd.get(), reinterpret_cast<sockaddr*>(&bound), &blen);
    const uint16_t bport = bound.ss_family == AF_INET6
                               ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                               : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    addr = (ip->isV6() ? "[" + ip->toString() + "]" : ip->toString()) + ":" + std::to_string(bport);
    p->addr = addr;
    added.push_back(std::move(p));
  }
  // Everything bound: start the new ones, close the ones no longer wanted.
  for (auto& p : added) {
    p->port =
        evdns_add_server_port_with_base(base_, p->fd.get(), 0, &Responder::onRequest, p.get());
    if (p->port == nullptr) return Status::error("evdns server port on " + p->addr + " failed");
    spdlog::info("serving sandbox DNS on {}", p->addr);
    ports_.push_back(std::move(p));
  }
  for (auto it = ports_.begin(); it != ports_.end();) {
    if (std::find(addresses.begin(), addresses.end(), (*it)->addr) == addresses.end()) {
      evdns_close_server_port((*it)->port);
      spdlog::info("stopped serving DNS on {}", (*it)->addr);
      it = ports_.erase(it);
    } else {
      ++it;
    }
  }
  addrs_ = addresses;
  return Status::ok();
}

void Responder::onRequest(evdns_server_request* req, void* arg) {
  auto* port = static_cast<Port*>(arg);
  port->responder->answer(*port, req);
}

void Responder::answer(Port& port, evdns_server_request* req) {
  if (req->nquestions != 1 || req->questions[0]->dns_question_class != EVDNS_CLASS_INET) {
    evdns_server_request_respond(req, kNotImplemented);
    return;
  }
  const evdns_server_question& q = *req->questions[0];
  sockaddr_storage ss{};
  std::optional<policy::IpAddress> client;
  // Returns the address's length (libevent 2.1), -1 when it does not fit.
  const int len =
      evdns_server_request_get_requesting_addr(req, reinterpret_cast<sockaddr*>(&ss), sizeof ss);
  if (len > 0) {
    client = policy::IpAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&ss),
                                             static_cast<socklen_t>(len));
  }
  Inputs in = inputs_();
  const sandbox::Sandbox* sandbox =
      client && in.registry ? in.registry->identifyBySource(*client) : nullptr;
  if (sandbox == nullptr) {
    evdns_server_request_respond(req, DNS_ERR_REFUSED);
    return;
  }
  evdns_server_request_set_flags(req, EVDNS_FLAGS_AA);
  const std::string name = lowerName(q.name);
  if (isGatewayName(name)) {  // host services: the gateway this question came to
    addAnswers(req, q.name, q.type, {port.local});
    evdns_server_request_respond(req, kNoError);
    return;
  }
  auto host = policy::normalizeHost(name, policy::Ipv6Brackets::kOptional);
  if (!host || host->isIp()) {
    evdns_server_request_respond(req, DNS_ERR_NOTEXIST);
    return;
  }
  std::vector<uint16_t> ports = sandbox->policy().allowedPorts(*host);
  if (ports.empty()) {
    const std::string client_text = client->toString();
    logDenied(sandbox->name(), client_text, host->text,
              sandbox->policy().evaluate(*host, 443).reason);
    evdns_server_request_respond(req, DNS_ERR_NOTEXIST);
    return;
  }
  if (q.type != EVDNS_TYPE_A && q.type != EVDNS_TYPE_AAAA) {
    evdns_server_request_respond(req, kNoError);  // the name exists; no such records from us
    return;
  }
  auto p = std::make_unique<Pending>();
  p->req = req;
  p->inputs = std::move(in);
  p->sandbox = sandbox;
  p->host = std::move(host.value());
  p->ports = std::move(ports);
  p->type = q.type;
  p->qname = q.name;
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
      evdns_server_request_respond(p.req, DNS_ERR_NOTEXIST);
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
      addAnswers(p.req, p.qname.c_str(), p.type, answered);
      const auto now = clock_.now();
      for (const auto& a : answered) {
        if ((p.type == EVDNS_TYPE_A) == a.isV4())
          memory_.remember(p.sandbox->name(), a, p.host.text, now);
      }
      evdns_server_request_respond(p.req, kNoError);
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
