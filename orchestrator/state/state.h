// kitgate_state: the state directory that the kitgate CLI writes and
// kitgate-proxy reads (formats: proxy/sandbox/FORMAT.md,
// proxy/secrets/FORMAT.md, proxy/config/config.h), plus control of the local
// kitgate-proxy daemon that serves it.
//
// For Engineer R (run/ls/exec/stop/rm): the API is the agreed shape with these
// refinements: loadSandbox() (read one sandbox file back), removeRoutes(),
// lockState() (hold it around read-modify-write of secrets.yaml),
// Paths::adminSocket()/proxyOut(), ensureDirs(); placeholdersFor() covers
// custom secrets only (proxyManaged names come from the kit:
// secrets::kProxyManagedSentinel). writeSandbox() refuses a record with
// neither sources nor token (the proxy would refuse it on reload).
//
// Every file is written atomically (`.<name>.tmp.<pid>` + rename: the proxy
// ignores dot-files) with mode 0600; directories are created 0700. Nothing
// here writes a secret value anywhere but secrets.yaml (and a token only into
// its sandbox file); no error message contains one.
//
// Threads: free functions, no global state; call from one thread at a time
// per state directory (the CLI's main thread). Concurrent kitgate processes
// on one state directory are last-writer-wins per file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/common/sandbox_name.h"
#include "proxy/common/status.h"
#include "proxy/common/unique_fd.h"

namespace kitgate::state {

struct Paths {
  // $KITGATE_STATE_DIR, else /var/lib/kitgate (root) or
  // $XDG_STATE_HOME/kitgate, ~/.local/state/kitgate.
  std::string root;

  std::string proxyConfig() const;                           // root/proxy.yaml
  std::string sandboxesDir() const;                          // root/sandboxes
  std::string sandboxFile(std::string_view name) const;      // root/sandboxes/<name>.yaml
  std::string credentialsFile(std::string_view name) const;  // root/credentials/<name>.yaml
  std::string secretsFile() const;                           // root/secrets.yaml
  std::string policyFile() const;                            // root/policy.yaml
  std::string caCert(std::string_view sandbox) const;        // root/ca/<sandbox>.crt
  std::string policyLog() const;                             // root/policy.log
  std::string readyFile() const;                             // root/proxy.ready
  std::string adminSocket() const;                           // root/admin.sock
  std::string proxyOut() const;                              // root/proxy.out
  std::string runDir() const;                                // root/run (CLI metadata)
};

Paths defaultPaths();

// Creates root, sandboxes/, credentials/ and run/ (0700; root is chmod'ed to
// 0700 when it already exists and is ours).
Status ensureDirs(const Paths& paths);

// An exclusive advisory lock (flock) on root/.state.lock, released when the
// returned fd is closed. Hold it across a read-modify-write of a shared state
// file (secrets.yaml, policy.yaml, a sandbox file) so that two kitgate
// processes never lose each other's change. Blocks while another holds it.
StatusOr<UniqueFd> lockState(const Paths& paths);
// The same on any file (created 0600 when missing).
StatusOr<UniqueFd> lockFile(const std::string& path);

// tmp file in the same directory (dot-name) + fsync + rename; creates the
// parent directory (0700) when missing.
Status writeFileAtomic(const std::string& path, std::string_view content, mode_t mode);

// A sandbox name the proxy accepts (proxy/common/sandbox_name.h).
using kitgate::validSandboxName;

// ---- sandboxes/<name>.yaml ------------------------------------------------
struct SandboxRecord {
  std::string name;
  std::vector<std::string> sources;  // IPs / CIDRs
  std::string token;                 // secret; "" = none
  std::vector<std::string> allow, deny;
  uint32_t max_connections = 0;  // limits.max_connections; 0 = proxy default
};
Status writeSandbox(const Paths& paths, const SandboxRecord& record);  // 0600
StatusOr<SandboxRecord> loadSandbox(const Paths& paths, std::string_view name);
// Removes sandboxes/<name>.yaml and credentials/<name>.yaml; idempotent.
Status removeSandbox(const Paths& paths, std::string_view name);
// Names of sandboxes/*.yaml (sorted; dot-files skipped).
std::vector<std::string> listSandboxes(const Paths& paths);

// ---- credentials/<sandbox>.yaml -------------------------------------------
// header+format: `header: format%s`; username: Basic; neither: routing only.
struct Route {
  std::string service;
  std::vector<std::string> domains;
  std::string header, format, username;
};
// An empty list removes the file.
Status writeRoutes(const Paths& paths, std::string_view sandbox, const std::vector<Route>& routes);
Status removeRoutes(const Paths& paths, std::string_view sandbox);

// ---- secrets.yaml -----------------------------------------------------------
inline constexpr std::string_view kGlobalScope = "global";
std::string sandboxScope(std::string_view sandbox);  // "sandbox:<n>"

struct ServiceSecret {
  std::string service, scope, value;  // scope "global" | "sandbox:<n>"
};
struct CustomSecret {
  std::string scope;
  std::vector<std::string> hosts;
  std::string env, placeholder, value;
};
struct Secrets {
  std::vector<ServiceSecret> services;
  std::vector<CustomSecret> custom;
};
StatusOr<Secrets> loadSecrets(const Paths& paths);               // absent file = empty
Status saveSecrets(const Paths& paths, const Secrets& secrets);  // 0600, atomic

// Every "{rand}" becomes 16 alphanumerics from getrandom(2); "" gives
// "kitgate-cs-" + 16 alphanumerics; a template without {rand} is returned as is.
std::string newPlaceholder(std::string_view tmpl);

// The custom secrets visible in sandbox `sandbox` as env -> placeholder
// (sandbox scope wins over global for one env; sorted by env).
std::vector<std::pair<std::string, std::string>> placeholdersFor(const Secrets& secrets,
                                                                 std::string_view sandbox);

// ---- policy.yaml ------------------------------------------------------------
struct GlobalPolicy {
  std::vector<std::string> allow, deny;
};
StatusOr<GlobalPolicy> loadGlobalPolicy(const Paths& paths);  // absent = empty
Status saveGlobalPolicy(const Paths& paths, const GlobalPolicy& policy);

// ---- the kitgate-proxy daemon ---------------------------------------------
struct ProxyStatus {
  bool running = false;
  int pid = 0;
  std::vector<std::string> listen;       // as the proxy reported them when it started
  std::vector<std::string> transparent;  // transparent listeners, bound ports (fixed at start)
  std::string admin, metrics;            // "unix:/path" or "ip:port"
};

// The default proxy.yaml for this state directory: listen 127.0.0.1:3128,
// metrics 127.0.0.1:9090, admin unix:<root>/admin.sock, state_dir root,
// policy log root/policy.log.
std::string defaultProxyConfig(const Paths& paths);

// Reads the ready file; running = that pid is a live kitgate-proxy started
// for this state directory and (when it has an admin listener) answers
// /healthz.
ProxyStatus proxyStatus(const Paths& paths);
// Starts kitgate-proxy detached (setsid, posix_spawn, no shell, cwd root so
// relative paths in proxy.yaml are relative to it; stdout and stderr to
// root/proxy.out) unless already running, writing the default
// proxy.yaml first if missing; waits (bounded) until it is ready. Concurrent
// callers serialise on root/.proxy.lock: one starts it, the others find it.
// First repairs proxy.yaml (repairProxyConfig; what it repaired in
// *repaired, and a running proxy is reloaded to take it).
Status ensureProxy(const Paths& paths, const std::string& proxy_binary,
                   std::vector<std::string>* repaired = nullptr);
// Checks the proxy listening on `listen` serves sandbox `name`: a request
// with its token is recognised, one with a wrong token is refused (407) — a
// proxy running without state_dir or on other state fails this. The probe
// asks for http://kitgate-probe.invalid/ (denied; nothing leaves the host).
Status probeSandbox(const std::string& listen, const std::string& name, const std::string& token);
// SIGTERM, wait (bounded), SIGKILL as a last resort. Ok when not running.
Status stopProxy(const Paths& paths);
// POST /reload on the admin listener (SIGHUP without one). The proxy's error
// text on failure. Ok when the proxy is not running.
Status reloadProxy(const Paths& paths);
// Adds/removes one `listen` entry of proxy.yaml (idempotent), then reloads.
Status addProxyListen(const Paths& paths, const std::string& addr);
Status removeProxyListen(const Paths& paths, const std::string& addr);
// The same for `dns_listen` (the sandboxes' DNS, UDP); an empty list is fine.
Status addProxyDnsListen(const Paths& paths, const std::string& addr);
Status removeProxyDnsListen(const Paths& paths, const std::string& addr);
// Replaces each `transparent_listen` entry of proxy.yaml with port 0 by the
// endpoint the proxy bound for it (`bound`, from its ready file), so a
// restarted proxy listens where the sandboxes' host rules point. No file
// write when nothing has port 0.
Status pinTransparentListen(const Paths& paths, const std::vector<std::string>& bound);
// kitgate owns proxy.yaml's state_dir, admin_listen, policy_log, a
// non-empty listen and a non-empty transparent_listen: missing ones are written back (a hand-edited
// file keeps everything else, comments aside); returns what was repaired, one line each. A
// state_dir naming another directory is refused with a message that says how to fix it. Missing
// file: nothing to do.
StatusOr<std::vector<std::string>> repairProxyConfig(const Paths& paths);
// The proxy's `listen` entries as written in proxy.yaml (default config when
// the file is missing).
StatusOr<std::vector<std::string>> proxyListen(const Paths& paths);

// $KITGATE_PROXY, else <dir of /proc/self/exe>/../proxy/kitgate-proxy, else
// <that dir>/kitgate-proxy, else kitgate-proxy on PATH; "" when none exists.
std::string findProxyBinary();

}  // namespace kitgate::state
