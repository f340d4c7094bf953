// Server: the kitgate-proxy process. Owns the workers (one thread each), the
// current Snapshot, the policy log, and the main loop on the calling thread
// that serves the admin/metrics endpoints and handles signals:
//   SIGHUP          reload (same as POST /reload)
//   SIGTERM/SIGINT  graceful shutdown: stop accepting, let connections finish
//                   within limits.drain_timeout, then close the rest and exit.
//
// Reload re-reads proxy.yaml's policy parts and the state directory, builds a
// new Snapshot and publishes it to every worker; on any error the old one
// stays and the error is reported (never fails open). The worker count and
// the admin/metrics listeners are fixed at start; `listen` entries may be
// added and removed by a reload (the orchestrator adds each sandbox
// network's gateway address).
#pragma once

#include <event2/event.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/admin/admin_server.h"
#include "proxy/admin/metrics.h"
#include "proxy/admin/policy_log.h"
#include "proxy/common/status.h"
#include "proxy/config/config.h"
#include "proxy/dns/name_memory.h"
#include "proxy/dns/responder.h"
#include "proxy/secrets/oauth_refresher.h"
#include "proxy/server/snapshot.h"
#include "proxy/server/volume_watch.h"
#include "proxy/server/worker.h"

namespace prometheus {
class Collectable;
}

namespace kitgate::server {

class Server {
 public:
  // `config_path` is re-read on reload ("" = keep `config`).
  static StatusOr<std::unique_ptr<Server>> create(config::ProxyConfig config,
                                                  std::string config_path);
  ~Server();

  // Runs until SIGTERM/SIGINT (or stop()); returns the process exit code.
  int run();
  // Thread-safe. Counts the outcome in kitgate_reloads_total and
  // kitgate_config_last_reload_* (SIGHUP and POST /reload alike).
  Status reload();
  void stop();

  std::string metricsText() const;
  // Where the proxy, metrics and admin listeners are bound (ports resolved
  // when the config said 0).
  const std::vector<std::string>& listenAddresses() const { return config_.listen; }
  std::string metricsAddress() const {
    return config_.metrics_listen.empty() ? "" : admin_->boundAddress(0);
  }
  std::string adminAddress() const;
  // Writes "listen=…\nmetrics=…\nadmin=…\n" to `path` atomically (tests and
  // supervisors wait for it to know the proxy is ready).
  Status writeReadyFile(const std::string& path) const;

 private:
  Server() = default;
  static void onSignal(evutil_socket_t sig, short, void* arg);
  // reload() from a signal or a volume swap: logs the outcome (the error
  // lines when the previous policy stays).
  void reloadAndLog(const char* why);
  static void onFlush(evutil_socket_t, short, void* arg);
  void beginShutdown();
  Status reloadLocked();
  // Opens listeners for addresses in `wanted` that are new (resolving port 0
  // in place) and closes the ones no longer wanted.
  Status applyListenChanges(std::vector<std::string>& wanted);
  // Starts the sandboxes' DNS on `addresses` (port 0 resolved in place).
  Status startDns(std::vector<std::string>& addresses);
  // The proxy's own OAuth refreshes: the refresher's hooks (its thread).
  std::shared_ptr<const Snapshot> currentSnapshot();
  StatusOr<secrets::TokenAnswer> postTokenRequest(const secrets::TokenRequest& request);
  void refreshEnded(const std::shared_ptr<secrets::OAuthSlot>& slot,
                    secrets::OAuthRefresher::Result result);

  config::ProxyConfig config_;
  std::string config_path_;
  std::mutex reload_mu_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::unique_ptr<admin::PolicyLog> policy_log_;
  Shared shared_;
  admin::GlobalMetrics global_metrics_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  event_base* base_ = nullptr;
  std::unique_ptr<admin::AdminServer> admin_;
  // What a scrape serialises: the workers' sums, build info, process metrics.
  std::vector<std::unique_ptr<prometheus::Collectable>> collectors_;
  std::vector<event*> signal_events_;
  event* flush_ev_ = nullptr;
  std::unique_ptr<VolumeWatch> volume_watch_;
  // The sandboxes' DNS (dns_listen), on the main loop, and what it answered
  // (read by the workers' transparent connections through shared_.names).
  dns::NameMemory names_{dns::kMemoryTtl, dns::kMemoryPerSandbox};
  std::unique_ptr<tunnel::EvdnsResolver> dns_resolver_;
  std::unique_ptr<dns::Responder> dns_;
  // Refreshes proxy-managed OAuth tokens before expiry and on request
  // (proxy/secrets/oauth_refresher.h); started by run().
  std::unique_ptr<secrets::OAuthRefresher> oauth_refresher_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<int> workers_exited_{0};
};

}  // namespace kitgate::server
