// The privileged-request protocol between the kitgate CLI (run by a user in
// the docker group, not root) and the root kitgate daemon (`kitgate daemon`,
// deploy/systemd/kitgate-daemon.service) over its unix admin socket.
//
// One connection carries one request and one response, each a single JSON
// object; the client half-closes after its request. Requests are narrow: a
// verb from a fixed list and typed, validated fields — never a command, a
// path or firewall rule text. The daemon derives what it acts on itself (a
// sandbox's subnet and gateway from its Docker network, file paths from the
// state directory and a checked sandbox name). Secrets (the sandbox token, a
// secret's value) travel only inside the request body, never in argv, env,
// a log line or an error text.
//
// `kitgate secret` and `kitgate policy` of a CLI that is not root are verbs
// too (secret-*, policy-*): typed fields checked with the CLI's own
// validators (orchestrator/stateops); the daemon performs them with the
// same code the CLI runs as root. Nothing here runs a command: a
// --command/--ref secret is resolved by the CLI, as its user, and arrives
// as a value.
//
// Pure functions, any thread. parseRequest() never throws and returns a
// message safe to show the caller (it never echoes a field's value).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/sandbox/plan.h"
#include "orchestrator/state/state.h"
#include "proxy/common/status.h"
#include "proxy/secrets/oauth.h"

namespace kitgate::privd {

// A request larger than this is refused unread.
inline constexpr size_t kMaxMessageBytes = 64 * 1024;
// A response (listings, the policy log's groups) larger than this is refused.
inline constexpr size_t kMaxResponseBytes = 4 * 1024 * 1024;
inline constexpr size_t kMaxListItems = 256;     // allow, deny, routes, domains
inline constexpr size_t kMaxLogLimit = 1000000;  // policy-log: limit

enum class Verb {
  kHello,            // -> state_dir: who am I talking to (any allowed peer)
  kFirewallIsolate,  // name: host rules for the sandbox's network
  kFirewallRelease,  // name [+ subnet, gateway when its network is gone]
  kProxyEnsure,      // start the proxy unless running; -> lines: repairs
  kProxyReload,      //
  kListenAdd,        // listen "gateway:3128" of a kitgate network
  kListenRemove,     // listen
  kSandboxWrite,     // name, token, allow, deny, routes; sources = its subnet
  kSandboxRemove,    // name: registration and routes
  kCaRemove,         // name: the sandbox's CA files (the proxy mints a new one)
  kSecretsRemove,    // name: secrets scoped to the sandbox -> text "removed" | ""
  kSandboxCa,        // name -> text: the sandbox CA certificate (public)
  kSandboxToken,     // name -> text: its identification token (its container has it)
  kPlaceholders,     // name -> pairs: env -> placeholder (no secret values)
  kDnsListenAdd,     // listen "gateway:3153" of a kitgate network (the sandboxes' DNS)
  kDnsListenRemove,  // listen
  kTransparentPort,  // -> text: the port of the proxy's transparent listener
  // `kitgate secret` / `kitgate policy` (stateops::Outcome -> notes, text =
  // done, reload_error, warnings; listings -> text = JSON).
  kSecretSet,        // scope, service, value
  kSecretSetCustom,  // scope, env, hosts, placeholder, value
  kSecretRemove,     // scope + one of service, host, placeholder [check: dry run]
  kSecretList,       // -> text: the `secret ls --json` document (values masked)
  kPolicyAllow,      // rules [name: the sandbox, else global]
  kPolicyDeny,       // rules [name]
  kPolicyRemove,     // rules [name] [check]
  kPolicyList,       // -> text: the `policy ls --json` rows
  kPolicyCheck,      // target [name] -> text: the verdict (JSON)
  kPolicyLog,        // [name, decision, host, summary, limit] -> text: groups (JSON)
};

std::string_view verbName(Verb verb);

struct Request {
  Verb verb = Verb::kHello;
  std::string name;             // sandbox name (validSandboxName)
  std::string subnet, gateway;  // firewall-release only: CIDR + address inside it
  std::string listen;           // listen-add/remove: "<ip>:3128" / "[<ipv6>]:3128"; dns: ":3153"
  std::string token;            // sandbox-write: 16-128 alphanumerics (a secret)
  std::vector<std::string> allow, deny;
  std::vector<state::Route> routes;
  std::vector<secrets::OAuthRoute> oauth;  // sandbox-write: the kit's OAuth routes
  std::string scope;                       // secret-*: "global" | "sandbox:<name>"
  std::string service, env, placeholder;   // secret-*
  std::string host;                        // secret-rm: a custom secret's host; policy-log filter
  std::vector<std::string> hosts;          // secret-set-custom: host patterns
  std::string value;                       // secret-set*: the secret (never echoed or logged)
  std::vector<std::string> rules;          // policy-allow/deny/rm
  std::string target;                      // policy-check
  std::string decision;                    // policy-log: "allowed" | "blocked"
  bool check = false;                      // secret-rm, policy-rm: only whether it matches
  bool summary = false;                    // policy-log
  size_t limit = 0;                        // policy-log: at most this many groups (0 = all)
};

struct Response {
  bool ok = false;
  std::string error;                                       // when !ok
  std::string text;                                        // state_dir, CA PEM, done, JSON
  std::vector<std::string> lines;                          // repairs
  std::vector<std::pair<std::string, std::string>> pairs;  // placeholders
  std::vector<std::string> notes, warnings;                // a change's notes and warnings
  std::string reload_error;                                // saved, but the proxy did not reload
};

std::string encodeRequest(const Request& request);
// Every refused class has its own message: oversize, not JSON, unknown verb,
// unknown field, a field the verb does not take, a missing field, an invalid
// name (path traversal included), address, listen entry, token or rule.
StatusOr<Request> parseRequest(std::string_view bytes);

std::string encodeResponse(const Response& response);
StatusOr<Response> parseResponse(std::string_view bytes);

// Field checks, shared with the daemon's handlers.
bool validIpAddress(std::string_view text);
// "a.b.c.d/n" or "v6/n" with the gateway inside it.
Status checkSubnetAndGateway(std::string_view subnet, std::string_view gateway);
// "<ip>:<port>" / "[<ipv6>]:<port>", port == kProxyPort, ip neither
// unspecified nor loopback. On success, *ip = the address part.
Status checkListen(std::string_view listen, std::string* ip = nullptr,
                   int port = sandbox::kProxyPort);

}  // namespace kitgate::privd
