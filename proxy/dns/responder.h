// Responder: the sandboxes' DNS server (UDP, on each sandbox network's
// gateway; the sandbox's resolv.conf points at it), kit-spec §4.1.
//
//   question (A / AAAA / any other type) from a sandbox's address
//     -> the sandbox by source address (unknown source: REFUSED)
//     -> host.docker.internal / gateway.docker.internal: the gateway the
//        question arrived on (host services, §4.1)
//     -> a name no rule allows on any port: NXDOMAIN (clients say "Could not
//        resolve host", as in sbx, #611), one policy-log line (type "dns")
//     -> allowed: resolved as the proxy resolves (dns.hosts, then DNS), the
//        addresses the address check refuses dropped, the rest answered
//        and remembered in NameMemory for the transparent path
//
// Other record types of an allowed name get an empty answer (no HTTPS/SVCB
// records: nothing in them could be checked, ECH included).
//
// Thread: everything on one event_base (the server's main loop). Inputs (the
// registry, static names, the proxy's own addresses) are read through
// `inputs` for each question, so a reload takes effect on the next one.
#pragma once

#include <event2/event.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proxy/admin/policy_log.h"
#include "proxy/common/clock.h"
#include "proxy/common/status.h"
#include "proxy/common/unique_fd.h"
#include "proxy/dns/name_memory.h"
#include "proxy/policy/address_class.h"
#include "proxy/sandbox/registry.h"
#include "proxy/tunnel/resolver.h"

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

  Responder(event_base* base, tunnel::Resolver& resolver, NameMemory& memory, const Clock& clock,
            InputsFn inputs, LogFn log);
  ~Responder();
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  // Serves exactly `addresses` ("ip:port", UDP) from now on: binds the new
  // ones (port 0: a free port, written back in place), closes the others.
  // A bind error changes nothing and names the address.
  Status listen(std::vector<std::string>& addresses);
  const std::vector<std::string>& addresses() const { return addrs_; }

 private:
  struct Port;
  struct Pending;
  static void onRequest(evdns_server_request* req, void* arg);
  void answer(Port& port, evdns_server_request* req);
  void finish(Pending& p, tunnel::ResolveResult r);
  void logDenied(const std::string& sandbox, const std::string& client, const std::string& host,
                 const std::string& reason);

  event_base* base_;
  tunnel::Resolver& resolver_;
  NameMemory& memory_;
  const Clock& clock_;
  InputsFn inputs_;
  LogFn log_;
  std::vector<std::unique_ptr<Port>> ports_;
  std::vector<std::string> addrs_;
  std::vector<std::unique_ptr<Pending>> pending_;  // questions waiting for the resolver
};

}  // namespace kitgate::dns
