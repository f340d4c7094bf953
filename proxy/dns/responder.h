// Responder: the sandboxes' DNS server (UDP and TCP, on each sandbox
// network's gateway; the sandbox's resolv.conf points at it), kit-spec §4.1.
//
//   question (A / AAAA / any other type) from a sandbox's address
//     -> the sandbox by source address (unknown source: REFUSED)
//     -> host.docker.internal / gateway.docker.internal: the gateway the
//        question arrived on (host services, §4.1); localhost: loopback
//     -> a name no rule allows on any port: NXDOMAIN (clients say "Could not
//        resolve host", as in sbx, #611), one policy-log line (type "dns")
//     -> allowed: resolved as the proxy resolves (dns.hosts, then DNS), the
//        addresses the address check refuses dropped, the rest answered
//        and remembered in NameMemory for the transparent path
//
// Other record types of an allowed name get an empty answer (no HTTPS/SVCB
// records: nothing in them could be checked, ECH included).
//
// UDP: libevent's evdns server. TCP (RFC 7766; what a client falls back to,
// and what the host rules redirect TCP 53 to): the same address and port,
// each message after a two-byte length (proxy/dns/message.h), several per
// connection, answered as each is ready (same id, any order), bounded by
// TcpLimits: the message size, questions in flight per connection (reading
// pauses above it), an idle timeout, connections per source and in all.
// Every question is counted in DnsMetrics (transport, result).
//
// Thread: everything on one event_base (the server's main loop). Inputs (the
// registry, static names, the proxy's own addresses) are read through
// `inputs` for each question, so a reload takes effect on the next one.
#pragma once

#include <event2/event.h>

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/admin/metrics.h"
#include "proxy/admin/policy_log.h"
#include "proxy/common/clock.h"
#include "proxy/common/status.h"
#include "proxy/common/unique_fd.h"
#include "proxy/dns/name_memory.h"
#include "proxy/policy/address_class.h"
#include "proxy/sandbox/registry.h"
#include "proxy/tunnel/resolver.h"

struct bufferevent;
struct evdns_server_port;
struct evdns_server_request;

namespace kitgate::dns {

// What one question is answered from (the current snapshot's parts).
struct Inputs {
  std::shared_ptr<const sandbox::Registry> registry;
  std::shared_ptr<const tunnel::HostMap> static_hosts;  // may be null
  const policy::SelfAddresses* self = nullptr;          // may be null
  std::shared_ptr<const void> keep_alive;               // owner of `self`
};

struct TcpLimits {
  std::chrono::milliseconds idle{10000};  // no complete question for this long: closed
  size_t max_message = 4096;              // a longer query closes the connection
  size_t max_pending = 16;                // questions in flight per connection
  size_t max_per_source = 16;             // open connections per client address
  size_t max_connections = 1024;          // open connections in all
};

// TTL of an answer, and how long NameMemory keeps it (longer: clients cache
// past the TTL, and a connection made from a cached answer must still find
// its name).
inline constexpr int kAnswerTtlSeconds = 60;
inline constexpr std::chrono::seconds kMemoryTtl{600};
inline constexpr size_t kMemoryPerSandbox = 4096;

class Responder {
 public:
  using InputsFn = std::function<Inputs()>;
  using LogFn = std::function<void(const admin::PolicyRecord&)>;

  struct Options {
    TcpLimits tcp;
    admin::DnsMetrics* metrics = nullptr;  // may be null; must outlive the responder
  };

  Responder(event_base* base, tunnel::Resolver& resolver, NameMemory& memory, const Clock& clock,
            InputsFn inputs, LogFn log, Options options);
  ~Responder();
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  // Serves exactly `addresses` ("ip:port", UDP and TCP) from now on: binds
  // the new ones (port 0: a free port, written back in place), closes the
  // others (and their TCP connections). A bind error changes nothing and
  // names the address.
  Status listen(std::vector<std::string>& addresses);
  const std::vector<std::string>& addresses() const { return addrs_; }

 private:
  struct Port;
  struct Pending;
  struct TcpConn;
  class Reply;
  class UdpReply;
  class TcpReply;
  // One question, whatever carried it.
  struct Question {
    admin::DnsTransport transport = admin::DnsTransport::kUdp;
    std::optional<policy::IpAddress> client;
    policy::IpAddress gateway;  // the address it arrived on
    std::string name;           // as asked
    int type = 0;
    int klass = 0;
    int count = 1;  // questions in the message
  };

  static void onRequest(evdns_server_request* req, void* arg);
  static void onAccept(evutil_socket_t fd, short, void* arg);
  static void onTcpRead(bufferevent* bev, void* arg);
  static void onTcpWritten(bufferevent* bev, void* arg);
  static void onTcpEvent(bufferevent* bev, short what, void* arg);
  void answer(const Question& q, std::unique_ptr<Reply> reply);
  void finish(Pending& p, tunnel::ResolveResult r);
  // Counts the question (its transport, `result`) and sends the answer.
  void respond(Reply& reply, int rcode, bool authoritative,
               const std::vector<policy::IpAddress>& addresses, admin::DnsResult result);
  void readTcp(TcpConn& c);
  void closeTcp(TcpConn& c);
  void logDenied(const std::string& sandbox, const std::string& client, const std::string& host,
                 const std::string& reason);

  event_base* base_;
  tunnel::Resolver& resolver_;
  NameMemory& memory_;
  const Clock& clock_;
  InputsFn inputs_;
  LogFn log_;
  Options options_;
  std::vector<std::unique_ptr<Port>> ports_;
  std::vector<std::string> addrs_;
  std::vector<std::unique_ptr<Pending>> pending_;  // questions waiting for the resolver
  std::list<std::shared_ptr<TcpConn>> tcp_;        // open TCP connections
  std::unordered_map<policy::IpAddress, size_t, policy::IpAddressHash> tcp_per_source_;
};

}  // namespace kitgate::dns
