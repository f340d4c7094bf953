// Resolver: asynchronous name -> addresses lookup for upstream connects.
//
// The interface is the seam for tests (a fake lives in tests/support/); the
// real one is EvdnsResolver (libevent's evdns: /etc/resolv.conf and
// /etc/hosts). The static names of proxy.yaml (`dns.hosts`) are part of the
// policy snapshot and are consulted by the caller before the resolver.
// Thread: one resolver per worker, used only on that worker's loop.
// The callback runs on the loop thread, possibly synchronously inside
// resolve() (numeric hosts, static map); it never runs after the returned
// Lookup handle has been destroyed (destroying it cancels the lookup).
#pragma once

#include <event2/event.h>

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/policy/ip_address.h"

struct evdns_base;

namespace kitgate::tunnel {

struct ResolveResult {
  std::vector<policy::IpAddress> addresses;  // empty on failure
  std::string error;                         // "NXDOMAIN", "timeout", …
};

class Lookup {
 public:
  virtual ~Lookup() = default;
};

class Resolver {
 public:
  using Callback = std::function<void(ResolveResult)>;
  virtual ~Resolver() = default;
  // Returns a handle that must outlive the lookup; nullptr when `cb` already ran.
  virtual std::unique_ptr<Lookup> resolve(const std::string& host, Callback cb) = 0;
};

// Static names from config (`dns: {hosts: {api.test: 127.0.0.1}}`) override DNS.
using HostMap = std::unordered_map<std::string, std::vector<policy::IpAddress>>;

class EvdnsResolver final : public Resolver {
 public:
  // Names are resolved as absolute names: the search list of resolv.conf is
  // dropped, so "internal" never becomes "internal.corp.example" (a policy
  // decided on one name must connect to that name). `resolv_conf`: another
  // file than /etc/resolv.conf (tests).
  explicit EvdnsResolver(event_base* base, const char* resolv_conf = nullptr);
  ~EvdnsResolver() override;
  std::unique_ptr<Lookup> resolve(const std::string& host, Callback cb) override;

 private:
  evdns_base* dns_ = nullptr;
};

}  // namespace kitgate::tunnel
