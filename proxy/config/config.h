// ProxyConfig: the model of proxy.yaml, and its loader.
//
// loadConfig() parses, checks and returns the whole file or every problem at
// once as "file:line:column: error: …" lines in the Status. Unknown keys are
// errors, never ignored. The result is a plain value; the server compiles it
// (with the state directory) into an immutable Snapshot.
//
//   listen: 127.0.0.1:3128            # IP:port, [v6]:port (port 0 = pick one); or a list
//   transparent_listen: []             # IP:port list: connections the host's nat rules
//                                      # redirected (SO_ORIGINAL_DST); fixed at start
//   dns_listen: []                     # IP:port list (UDP and TCP): the sandboxes' resolver;
//                                      # its addresses are the gateways (host.docker.internal)
//   workers: 0                         # 0 = number of CPU cores
//   metrics_listen: 127.0.0.1:9090     # Prometheus text format at /metrics; "" = off
//   admin_listen: 127.0.0.1:9091       # /healthz /readyz /reload; or unix:/path; "" = off
//   state_dir: /var/lib/kitgate        # sandbox registry (see README); "" = single-tenant
//   policy_log: {path: policy.log, max_size_mb: 64, max_files: 5}   # path "" = off, "-" = stderr
//   limits: {head_timeout_ms: 10000, idle_timeout_ms: 300000, connect_timeout_ms: 10000,
//            max_head_bytes: 32768, max_headers: 100, max_connections: 10000,
//            max_connections_per_sandbox: 4000, drain_timeout_ms: 10000,
//            max_connection_duration_ms: 0,   # 0 = no limit
//            upstream_pool_idle_timeout_ms: 15000,   # idle upstream reuse; 0 = off
//            max_unidentified_per_source: 64, max_unidentified: 1000,
//            overload_shed_idle_percent: 90, overload_stop_accepting_percent: 98}
//   dns: {hosts: {name: address | [addresses]}}   # static names, consulted before DNS
//   tls: {upstream_ca_file: "", ca_dir: "", leaf_lifetime_hours: 24, http2: false,
//         tunnel_sni_check: true}
//        # interception: extra trusted roots for upstreams (besides the system
//        # store), where sandbox CAs live (default <state_dir>/ca); http2:
//        # offer HTTP/2 to sandboxes on intercepted hosts whose upstream speaks it;
//        # tunnel_sni_check: an opaque CONNECT tunnel's ClientHello must name
//        # the CONNECT host or another allowed name (no domain fronting)
//   allow: [rule, …]                   # global rules, kit-spec §4.2 grammar
//   deny:  [rule, …]
//   log_level: info
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "proxy/common/status.h"

namespace kitgate::config {

struct Limits {
  std::chrono::milliseconds head_timeout{10'000};
  std::chrono::milliseconds idle_timeout{300'000};
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds drain_timeout{10'000};
  // A connection (tunnel, keep-alive, intercepted) lives at most this long:
  // a tunnel is closed, a keep-alive connection closes after its current
  // request. 0 = no limit. Bounds how long a revoked decision can outlive a
  // reload that could not see it (defence in depth).
  std::chrono::milliseconds max_connection_duration{0};
  // How long an idle upstream HTTP/1.1 connection is kept for the next client
  // connection of the same sandbox to the same host (below typical server
  // keep-alive timeouts); 0 = no pool.
  std::chrono::milliseconds upstream_pool_idle_timeout{15'000};
  size_t max_head_bytes = 32 * 1024;
  size_t max_headers = 100;
  size_t max_connections = 10'000;  // identified client connections, whole proxy
  size_t max_connections_per_sandbox = 4'000;
  // Connections that have not been identified yet (no complete first
  // request head): per source address and for the whole proxy. Counted apart
  // from max_connections, so idle unidentified sockets can never take the
  // slots of identified sandboxes, and one address cannot take them all.
  size_t max_unidentified_per_source = 64;
  size_t max_unidentified = 1'000;
  // Overload actions (Envoy's overload manager, one resource): all open
  // client connections against max_connections + max_unidentified. From
  // shed_idle_percent on, accepting a connection closes idle keep-alive
  // connections (the client reconnects); from stop_accepting_percent on,
  // the listeners stop accepting until the level is 5 points lower.
  unsigned overload_shed_idle_percent = 90;
  unsigned overload_stop_accepting_percent = 98;
};

// One configured limit as a metric: kitgate_limit_<name> (base units:
// seconds, bytes), so alerts can divide what is in use by what is allowed.
struct LimitGauge {
  const char* name;  // "max_connections", "idle_timeout_seconds", …
  const char* help;
  double value;
};
// Every field of `limits`, in declaration order.
std::vector<LimitGauge> limitGauges(const Limits& limits);

// A rule as written, with where it was written (for file:line:column errors).
struct SourcedRule {
  std::string text;
  std::string file;
  int line = 0;
  int column = 0;
};

struct ProxyConfig {
  std::string source;  // file the config came from ("" for defaults)
  std::vector<std::string> listen{"127.0.0.1:3128"};
  // The transparent listeners: every other TCP connection of a sandbox,
  // redirected here by host rules, keeps its original destination.
  std::vector<std::string> transparent_listen;
  // The sandboxes' DNS (UDP): questions answered by policy, answers
  // remembered for the transparent path. Reloadable.
  std::vector<std::string> dns_listen;
  int workers = 0;
  std::string metrics_listen = "127.0.0.1:9090";
  std::string admin_listen = "127.0.0.1:9091";
  std::string state_dir;
  std::string policy_log_path = "kitgate-policy.log";
  size_t policy_log_max_size_mb = 64;
  size_t policy_log_max_files = 5;
  std::string log_level = "info";
  Limits limits;
  std::map<std::string, std::vector<std::string>> dns_hosts;  // name -> literal addresses
  std::string upstream_ca_file;
  std::string ca_dir;  // "" = <state_dir>/ca
  int leaf_lifetime_hours = 24;
  bool http2 = false;            // HTTP/2 on intercepted hosts (both legs), off by default
  bool tunnel_sni_check = true;  // check the ClientHello of opaque CONNECT tunnels
  std::vector<SourcedRule> allow;
  std::vector<SourcedRule> deny;
};

StatusOr<ProxyConfig> loadConfig(const std::string& path);
// Same grammar from a string (tests); `source` names it in messages.
StatusOr<ProxyConfig> parseConfig(const std::string& yaml, const std::string& source);

// "host:port" / "[v6]:port" -> parts (port 0 = any free port); false on
// malformed text.
bool splitHostPort(const std::string& text, std::string* host, uint16_t* port);

}  // namespace kitgate::config
