// Worker: one thread, one event_base, one SO_REUSEPORT listener per listen
// address, and every connection accepted there for its whole life.
//
// Nothing on the data path takes a lock. Other threads talk to a worker only
// through post(), which queues a closure and wakes the loop (reload publishes
// a new snapshot this way; shutdown asks it to drain). Connections are never
// deleted inside their own callbacks: they call retire(), and the worker
// deletes retired connections from a separate event after the current callbacks
// have returned.
#pragma once

#include <event2/event.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proxy/admin/metrics.h"
#include "proxy/admin/policy_log.h"
#include "proxy/common/status.h"
#include "proxy/common/unique_fd.h"
#include "proxy/dns/name_memory.h"
#include "proxy/server/snapshot.h"
#include "proxy/server/source_counts.h"
#include "proxy/stream/oauth_wait.h"
#include "proxy/tls/contexts.h"
#include "proxy/tls/leaf_cache.h"
#include "proxy/tunnel/pipe_pool.h"
#include "proxy/tunnel/resolver.h"
#include "proxy/upstream/idle_pool.h"

namespace kitgate::server {

class Connection;

// "ip:port" ("[v6]:port") a listening socket is bound to; "" on error.
std::string boundAddress(int fd);
// A non-blocking SO_REUSEPORT listening socket on "ip:port".
StatusOr<UniqueFd> listenOn(const std::string& addr);

// Process-wide state a worker reads (owned by Server, outlives workers).
class Worker;

struct Shared {
  admin::PolicyLog* policy_log = nullptr;
  // What the sandboxes' DNS answered (empty without dns_listen); thread-safe.
  const dns::NameMemory* names = nullptr;
  std::atomic<int64_t> open_connections{0};          // every client connection
  std::atomic<int64_t> identified_connections{0};    // against limits.max_connections
  std::atomic<int64_t> unidentified_connections{0};  // against limits.max_unidentified
  SourceCounts unidentified_by_source;               // limits.max_unidentified_per_source
  std::vector<Worker*> workers;                      // every worker (set before they run)
};

class Worker {
 public:
  Worker(int index, Shared& shared, std::shared_ptr<const Snapshot> snapshot);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Creates the event_base and the listeners (bind errors come back here).
  // A port 0 in `listen` is replaced in place by the port actually bound, so
  // the next worker joins the same SO_REUSEPORT group.
  Status init(std::vector<std::string>& listen);
  // After init(), before run(): transparent listeners (connections redirected
  // by the host's nat rules; each carries its original destination). Port 0
  // is resolved in place as for init().
  Status listenTransparent(std::vector<std::string>& listen);
  // Thread body: runs the loop until stop or drain completes.
  void run();

  // Thread-safe: run `fn` on this worker's loop thread.
  void post(std::function<void()> fn);
  // Before run() only (same thread as the constructor): replace the snapshot.
  void setSnapshotBeforeRun(std::shared_ptr<const Snapshot> s) {
    snapshot_ = std::move(s);
    if (upstream_pool_)
      upstream_pool_->setIdleTimeout(snapshot_->config.limits.upstream_pool_idle_timeout);
  }
  // Thread-safe: publish a new snapshot for connections accepted from now on.
  void publish(std::shared_ptr<const Snapshot> snapshot);
  // Thread-safe: start accepting on `fd` (bound to `addr`, already
  // listening), or stop accepting on `addr` (reload changed `listen`).
  void addListener(std::string addr, UniqueFd fd);
  void removeListener(std::string addr);
  // Thread-safe: stop accepting, close idle connections, let the others
  // finish; after `deadline` close what is left. The loop then exits.
  void drain(std::chrono::milliseconds deadline);

  // --- loop thread only ---
  event_base* base() const { return base_; }
  tunnel::PipePool& pipes() { return pipes_; }
  tunnel::Resolver& resolver() { return *resolver_; }
  admin::WorkerMetrics& metrics() { return metrics_; }
  const admin::WorkerMetrics& metrics() const { return metrics_; }
  // Queues one policy-log line; lines go out in batches (every 100 ms, or
  // at 64 KiB), one hand-off to the log writer per batch.
  void logDecision(const admin::PolicyRecord& r);
  Shared& shared() { return shared_; }
  const std::shared_ptr<const Snapshot>& snapshot() const { return snapshot_; }
  bool draining() const { return draining_; }
  // This worker's upstream TLS session cache and per-CA leaf caches (no
  // locks: only this thread touches them).
  tls::ClientSessionCache& tlsSessions() { return tls_sessions_; }
  tls::LeafCache& leafCache(const std::shared_ptr<const tls::LeafMinter>& minter);
  // Idle upstream HTTP/1.1 connections of this worker's client connections
  // (proxy/upstream/idle_pool.h); emptied by every publish() and by drain().
  upstream::IdlePool& upstreamPool() { return *upstream_pool_; }
  // Requests parked until an OAuth refresh ends (proxy/stream/oauth_wait.h);
  // the server posts wake() here.
  stream::OAuthWaits& oauthWaits() { return *oauth_waits_; }
  // Unlinks `s` and deletes it after the current callbacks have returned.
  void retire(Connection* s);
  size_t connectionCount() const { return connections_; }
  int index() const { return index_; }
  // A fresh policy-log id for one request (PolicyLog::connectionId).
  std::string nextLogId() { return admin::PolicyLog::connectionId(index_, ++log_seq_); }

 private:
  struct Listener {
    std::string addr;
    UniqueFd fd;
    event* ev = nullptr;
    bool transparent = false;
  };
  static void onAccept(evutil_socket_t fd, short, void* arg);
  static void onAcceptTransparent(evutil_socket_t fd, short, void* arg);
  static void onReap(evutil_socket_t, short, void* arg);
  static void onInbox(evutil_socket_t, short, void* arg);
  static void onDrainDeadline(evutil_socket_t, short, void* arg);
  static void onLogFlush(evutil_socket_t, short, void* arg);
  static void onAcceptBackoff(evutil_socket_t, short, void* arg);
  // Stops accepting for a while: out of descriptors (EMFILE …), or the
  // overload level reached stop_accepting (resumed when 5 points lower).
  enum class Pause { kDescriptors, kOverload };
  void pauseAccepting(Pause why);
  // All open client connections, in percent of what the limits allow.
  unsigned overloadPercent() const;
  // Overload action: closes the idle keep-alive connections of every
  // worker (at most once per kShedInterval from this one); each worker
  // closes its own, on its own thread.
  void shedIdle();
  void shedOwnIdle();
  void flushLog();
  // Binds `listen` (port 0 resolved in place) and accepts on it.
  Status bindListeners(std::vector<std::string>& listen, bool transparent);
  void acceptBatch(int listen_fd, bool transparent);
  void stopListening();
  void maybeExit();
  void link(Connection* s);
  void unlink(Connection* s);

  int index_;  // for thread names and logs
  uint64_t log_seq_ = 0;
  Shared& shared_;
  std::shared_ptr<const Snapshot> snapshot_;
  event_base* base_ = nullptr;
  std::vector<Listener> listeners_;
  event* reap_ev_ = nullptr;
  event* inbox_ev_ = nullptr;
  event* drain_ev_ = nullptr;
  event* accept_backoff_ev_ = nullptr;  // resumes accepting after EMFILE
  bool accept_paused_ = false;
  Pause pause_reason_ = Pause::kDescriptors;
  std::chrono::steady_clock::time_point last_shed_{};
  static constexpr std::chrono::milliseconds kShedInterval{50};
  uint64_t accept_pauses_ = 0;
  static constexpr std::chrono::milliseconds kAcceptBackoff{100};
  event* log_flush_ev_ = nullptr;
  std::string log_batch_;
  UniqueFd inbox_fd_;    // eventfd: post() writes, the loop reads
  std::mutex inbox_mu_;  // cross-thread mailbox only; never taken on the data path
  std::vector<std::function<void()>> inbox_;
  std::vector<Connection*> retired_;
  Connection* head_ = nullptr;  // intrusive list of live connections
  size_t connections_ = 0;
  bool draining_ = false;
  tunnel::PipePool pipes_;
  tls::ClientSessionCache tls_sessions_;
  // Keyed by minter: a reload that keeps a sandbox's CA keeps its leaves.
  std::unordered_map<const tls::LeafMinter*, std::pair<std::shared_ptr<const tls::LeafMinter>,
                                                       std::unique_ptr<tls::LeafCache>>>
      leaf_caches_;
  std::unique_ptr<tunnel::Resolver> resolver_;
  std::unique_ptr<stream::OAuthWaits> oauth_waits_;    // made with base_
  std::unique_ptr<upstream::IdlePool> upstream_pool_;  // made with base_
  admin::WorkerMetrics metrics_;
};

}  // namespace kitgate::server
