// ProxyProcess: the real kitgate-proxy binary, started for one test.
//
// start() writes proxy.yaml (listeners on 127.0.0.1 port 0, policy log and
// state directory in a fresh temp dir) plus any state files, spawns
// ${KITGATE_BUILD_DIR}/proxy/kitgate-proxy (default: the build tree the tests
// were built in) with posix_spawn, and waits
// (bounded) for its --ready-file, which names the bound ports. The
// destructor SIGKILLs a proxy that is still running and removes the temp dir.
//
// Helpers read the policy log (one JSON object per line; the proxy flushes
// it every 200 ms, so wait for lines with waitForLog), scrape /metrics, reload
// through POST /reload or SIGHUP, and stop with SIGTERM.
// Owned by one thread; not thread-safe except port accessors (immutable
// after start).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/common/status.h"
#include "tests/support/raw_client.h"
#include "tests/support/subprocess.h"

namespace kitgate::testing {

struct ProxyOptions {
  std::vector<std::string> allow;  // global rules in proxy.yaml
  std::vector<std::string> deny;
  std::map<std::string, std::string> dns_hosts;  // static DNS: name -> address
  std::map<std::string, int64_t> limits;         // e.g. {"head_timeout_ms", 500}
  int workers = 2;
  // Files under the state directory ("sandboxes/dev1.yaml" -> YAML), 0600.
  // No file under sandboxes/ = single-tenant.
  std::map<std::string, std::string> state_files;
  std::string extra_yaml;  // appended verbatim to proxy.yaml
};

// The proxy.yaml text for `options` (listeners and paths filled in by start).
std::string renderProxyConfig(const ProxyOptions& options, const std::string& policy_log,
                              const std::string& state_dir);

class ProxyProcess {
 public:
  static StatusOr<std::unique_ptr<ProxyProcess>> start(ProxyOptions options,
                                                       std::chrono::milliseconds ready_timeout = 20s);
  ~ProxyProcess();
  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  uint16_t port() const { return port_; }
  // The transparent listener's port, with one configured (e.g. by extra_yaml
  // "transparent_listen: 127.0.0.1:0"; with several, read the ready file); 0: none.
  uint16_t transparentPort() const { return transparent_port_; }
  uint16_t metricsPort() const { return metrics_port_; }
  uint16_t adminPort() const { return admin_port_; }
  pid_t pid() const { return process_->pid(); }
  // "http://127.0.0.1:PORT"
  std::string url() const;
  const std::string& dir() const { return dir_->path(); }
  const std::string& stateDir() const { return state_dir_; }
  const std::string& configPath() const { return config_path_; }

  // Writes (atomically, 0600) or removes a file under the state directory;
  // takes effect at the next reload.
  Status writeStateFile(const std::string& relative_path, const std::string& text);
  Status removeStateFile(const std::string& relative_path);
  // Rewrites proxy.yaml from new options (listeners/paths unchanged).
  Status rewriteConfig(const ProxyOptions& options);

  // An admin request ("GET", "/healthz") -> the response.
  StatusOr<HttpResponse> admin(const std::string& method, const std::string& path);
  StatusOr<HttpResponse> reloadViaAdmin() { return admin("POST", "/reload"); }
  // SIGHUP, then waits until kitgate_reloads_total moves; error if the
  // reload failed (or never happened within the timeout).
  Status reloadViaSignal(std::chrono::milliseconds timeout = 10s);

  StatusOr<std::string> metricsText();
  // The value of one series ("kitgate_requests_total{type=\"http\",…}"
  // exactly as exposed); nullopt if absent or unreachable.
  std::optional<double> metric(const std::string& series);

  // Every policy-log line written so far (parsed; unparsable lines are
  // returned as {"unparsed": text}).
  std::vector<nlohmann::json> policyLog() const;
  // Waits for a line matching `match`.
  std::optional<nlohmann::json> waitForLog(const std::function<bool(const nlohmann::json&)>& match,
                                           std::chrono::milliseconds timeout = 10s) const;

  Status signal(int sig) { return process_->signal(sig); }
  // SIGTERM, then waits (bounded) for the exit; error if it did not exit.
  StatusOr<ExitStatus> stop(std::chrono::milliseconds timeout = 20s);
  std::optional<ExitStatus> waitExit(std::chrono::milliseconds timeout) { return process_->wait(timeout); }
  bool running() { return process_->running(); }
  std::string stderrText() const { return process_->stderrText(); }

 private:
  ProxyProcess() = default;

  std::unique_ptr<TempDir> dir_;
  std::string config_path_;
  std::string state_dir_;
  std::string policy_log_;
  std::unique_ptr<Subprocess> process_;
  uint16_t port_ = 0;
  uint16_t transparent_port_ = 0;
  uint16_t metrics_port_ = 0;
  uint16_t admin_port_ = 0;
};

// Path of the kitgate-proxy binary: ${KITGATE_BUILD_DIR}/proxy/kitgate-proxy.
StatusOr<std::string> proxyBinary();

// Series value from Prometheus text; nullopt if absent.
std::optional<double> metricValue(const std::string& text, const std::string& series);

}  // namespace kitgate::testing
