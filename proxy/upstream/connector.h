// Connector: from a host the policy allowed by name to a connected socket.
//
//   resolve (the snapshot's static names, else the worker's resolver)
//     -> Policy::decideAddresses: the final verdict for the name *and* its
//        addresses, and the addresses that may be used
//     -> non-blocking connect to each allowed address in resolver order until
//        one accepts
//
// A host service (Decision::host_service) skips the resolver: 127.0.0.1,
// then ::1, on the port (the address check refuses the proxy's own ports).
//
// Each step is bounded by the connect timeout (DNS once, every connect). The
// result carries the final decision: the stream never edits a verdict.
//
// The interface is the seam for in-process stream tests (a fake connector
// lives in tests/proxy/stream/); TcpConnector is the real one.
// Thread: one connector per connection, on its worker's loop.
#pragma once

#include <event2/event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/admin/metrics.h"
#include "proxy/common/unique_fd.h"
#include "proxy/policy/decision.h"
#include "proxy/policy/host.h"
#include "proxy/policy/policy.h"
#include "proxy/tunnel/resolver.h"

namespace kitgate::upstream {

// Where to connect and what policy said about the name.
struct ConnectRequest {
  const policy::Policy* policy = nullptr;  // the sandbox's policy (outlives the attempt)
  policy::Decision decision;               // the name's verdict: kAllow or kCheckAddress
  policy::Host host;
  uint16_t port = 0;
  // Transparent connections: the address the sandbox itself connected to.
  // The connection goes there and nowhere else (never re-routed by payload);
  // a name in `host` must resolve to it (the name and the address agree),
  // unless `original_resolved` says the name is known to have it (kitgate's
  // own DNS answer to this sandbox).
  std::optional<policy::IpAddress> original;
  bool original_resolved = false;
};

enum class Outcome : uint8_t {
  kConnected,
  kDnsFailure,      // the resolver found nothing; detail: its error
  kDnsTimeout,      // no answer within the connect timeout
  kAddressBlocked,  // every address refused; decision: the address denial (also: the
                    // name does not resolve to the original address)
  kConnectFailed,   // every allowed address refused the connection; detail: strerror
  kConnectTimeout,  // the last attempt timed out
};

struct ConnectResult {
  Outcome outcome = Outcome::kConnectFailed;
  UniqueFd fd;                // kConnected: non-blocking, TCP_NODELAY
  policy::Decision decision;  // final: kAllow, or kDeny for kAddressBlocked
  std::string address;        // the address connected to (or last tried, or first refused)
  std::string detail;
  double dns_ms = -1;      // name resolution (-1: none, an IP or a static name)
  double connect_ms = -1;  // the TCP connect that succeeded (-1: none)
};

// An attempt in progress; destroying it cancels it (its callback never runs after).
class Attempt {
 public:
  virtual ~Attempt() = default;
};

class Connector {
 public:
  using Callback = std::function<void(ConnectResult)>;
  virtual ~Connector() = default;
  // `done` runs once, on the loop. It may run synchronously inside connect()
  // (a numeric host refused, say); connect() then returns nullptr.
  virtual std::unique_ptr<Attempt> connect(ConnectRequest request, Callback done) = 0;
};

// What TcpConnector reads from the snapshot the connection pinned.
struct TcpSettings {
  const tunnel::HostMap* static_hosts = nullptr;  // dns.hosts (may be null)
  const policy::SelfAddresses* self = nullptr;    // the proxy's own endpoints, always refused
  std::chrono::milliseconds timeout{10000};       // per DNS lookup and per connect
};

class TcpConnector final : public Connector {
 public:
  TcpConnector(event_base* base, tunnel::Resolver& resolver, admin::WorkerMetrics& metrics,
               TcpSettings settings)
      : base_(base), resolver_(resolver), metrics_(metrics), settings_(settings) {}
  std::unique_ptr<Attempt> connect(ConnectRequest request, Callback done) override;

 private:
  friend class TcpAttempt;
  event_base* base_;
  tunnel::Resolver& resolver_;
  admin::WorkerMetrics& metrics_;
  TcpSettings settings_;
};

}  // namespace kitgate::upstream
