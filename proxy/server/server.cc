#include "proxy/server/server.h"

#include <prometheus/collectable.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "proxy/admin/process_metrics.h"
#include "proxy/upstream/https_post.h"

namespace kitgate::server {
namespace {

int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

StatusOr<std::unique_ptr<Server>> Server::create(config::ProxyConfig config,
                                                 std::string config_path) {
  std::unique_ptr<Server> s(new Server);
  s->config_ = std::move(config);
  s->config_path_ = std::move(config_path);

  auto snap = buildSnapshot(s->config_, nullptr);
  if (!snap) return snap.status();
  s->snapshot_ = std::move(snap.value());
  s->global_metrics_.snapshot_loaded_unix = s->snapshot_->loaded_at_unix;
  s->global_metrics_.last_reload_success_unix = unixNow();
  s->global_metrics_.setLimits(s->config_.limits);

  auto log =
      admin::PolicyLog::open(s->config_.policy_log_path, s->config_.policy_log_max_size_mb << 20,
                             s->config_.policy_log_max_files);
  if (!log) return log.status();
  s->policy_log_ = std::move(log.value());
  s->shared_.policy_log = s->policy_log_.get();
  s->shared_.names = &s->names_;  // empty until dns_listen answers something

  int n = s->config_.workers > 0 ? s->config_.workers
                                 : static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>(i, s->shared_, s->snapshot_);
    Status st = w->init(s->config_.listen);  // resolves port 0 for the next workers
    if (st) st = w->listenTransparent(s->config_.transparent_listen);
    if (!st) return st;
    s->workers_.push_back(std::move(w));
  }
  for (const auto& w : s->workers_) s->shared_.workers.push_back(w.get());
  s->global_metrics_.workers = n;
  std::vector<const admin::WorkerMetrics*> blocks;
  for (const auto& w : s->workers_) blocks.push_back(&w->metrics());
  s->collectors_.push_back(admin::makeMetricsCollector(std::move(blocks), s->global_metrics_));
  s->collectors_.push_back(admin::makeBuildInfoCollector(KITGATE_VERSION, KITGATE_TLS_BACKEND));
  s->collectors_.push_back(admin::makeProcessCollector());

  s->base_ = event_base_new();
  if (s->base_ == nullptr) return Status::error("event_base_new failed");
  Server* raw = s.get();
  s->admin_ = std::make_unique<admin::AdminServer>(
      s->base_,
      admin::AdminHandlers{[raw] { return raw->metricsText(); }, [raw] { return raw->reload(); },
                           [raw] { return !raw->shutting_down_; }});
  if (!s->config_.metrics_listen.empty()) {
    Status st = s->admin_->listen(s->config_.metrics_listen, /*metrics_only=*/true);
    if (!st) return st;
  }
  if (!s->config_.admin_listen.empty()) {
    Status st = s->admin_->listen(s->config_.admin_listen, /*metrics_only=*/false);
    if (!st) return st;
  }
  if (!s->config_.dns_listen.empty()) {
    Status st = s->startDns(s->config_.dns_listen);
    if (!st) return st;
  }
  // Port 0 entries are bound now: record the real endpoints, and rebuild the
  // first snapshot so the proxy's own endpoints are known to the address
  // check before the first connection is accepted.
  const bool had_port0 = s->config_.metrics_listen.ends_with(":0") ||
                         s->config_.admin_listen.ends_with(":0") ||
                         s->snapshot_->config.listen != s->config_.listen ||
                         s->snapshot_->config.transparent_listen != s->config_.transparent_listen ||
                         s->snapshot_->config.dns_listen != s->config_.dns_listen;
  if (!s->config_.metrics_listen.empty()) s->config_.metrics_listen = s->metricsAddress();
  if (!s->config_.admin_listen.empty() && s->config_.admin_listen.rfind("unix:", 0) != 0) {
    s->config_.admin_listen = s->adminAddress();
  }
  if (had_port0) {
    auto resolved = buildSnapshot(s->config_, s->snapshot_.get());
    if (!resolved) return resolved.status();
    s->snapshot_ = std::move(resolved.value());
    for (auto& w : s->workers_) w->setSnapshotBeforeRun(s->snapshot_);
  }
  for (int sig : {SIGHUP, SIGTERM, SIGINT}) {
    event* e = evsignal_new(s->base_, sig, &Server::onSignal, raw);
    event_add(e, nullptr);
    s->signal_events_.push_back(e);
  }
  // Kubernetes volumes (ConfigMap, Secret, projected) change by an atomic
  // `..data` swap: reload when the config's or the state directory's swaps.
  std::vector<std::string> volumes{s->config_.state_dir};
  if (!s->config_path_.empty()) {
    const std::string dir = std::filesystem::path(s->config_path_).parent_path().string();
    volumes.push_back(dir.empty() ? "." : dir);
  }
  auto watch =
      VolumeWatch::create(s->base_, volumes, [raw] { raw->reloadAndLog("volume update"); });
  if (!watch) return watch.status();
  s->volume_watch_ = std::move(watch.value());
  secrets::OAuthRefresher::Hooks hooks;
  hooks.vault = [raw] {
    auto current = raw->currentSnapshot();
    return current ? current->oauth : nullptr;
  };
  hooks.post = [raw](const secrets::TokenRequest& r) { return raw->postTokenRequest(r); };
  hooks.done = [raw](const std::shared_ptr<secrets::OAuthSlot>& slot,
                     secrets::OAuthRefresher::Result result) { raw->refreshEnded(slot, result); };
  s->oauth_refresher_ = std::make_unique<secrets::OAuthRefresher>(std::move(hooks));
  s->flush_ev_ = event_new(s->base_, -1, EV_PERSIST, &Server::onFlush, raw);
  timeval tv{0, 200'000};
  event_add(s->flush_ev_, &tv);
  return s;
}

Server::~Server() {
  oauth_refresher_.reset();  // its hooks post to the workers
  for (event* e : signal_events_) event_free(e);
  if (flush_ev_) event_free(flush_ev_);
  volume_watch_.reset();
  dns_.reset();
  dns_resolver_.reset();
  admin_.reset();
  workers_.clear();
  if (base_) event_base_free(base_);
}

int Server::run() {
  ::signal(SIGPIPE, SIG_IGN);
  for (auto& w : workers_) {
    Worker* wp = w.get();
    threads_.emplace_back([this, wp] {
      wp->run();
      workers_exited_.fetch_add(1);
    });
  }
  spdlog::info("kitgate-proxy: {} worker(s), listening on {}{}{}", workers_.size(),
               config_.listen.front(),
               config_.metrics_listen.empty() ? "" : ", metrics on " + metricsAddress(),
               config_.admin_listen.empty() ? "" : ", admin on " + adminAddress());
  oauth_refresher_->start();
  event_base_loop(base_, EVLOOP_NO_EXIT_ON_EMPTY);
  oauth_refresher_->stop();
  for (auto& t : threads_) t.join();
  policy_log_->flush();
  spdlog::info("kitgate-proxy: stopped");
  return 0;
}

void Server::onSignal(evutil_socket_t sig, short, void* arg) {
  auto* s = static_cast<Server*>(arg);
  if (sig == SIGHUP) {
    s->reloadAndLog("SIGHUP");
    return;
  }
  s->beginShutdown();
}

void Server::reloadAndLog(const char* why) {
  Status st = reload();
  if (st) {
    spdlog::info("reload ({}): ok", why);
  } else {
    spdlog::error("reload ({}) failed; keeping the previous policy:\n{}", why, st.message());
  }
}

void Server::onFlush(evutil_socket_t, short, void* arg) {
  auto* s = static_cast<Server*>(arg);
  s->policy_log_->flush();
  // OAuth tokens stored by a worker join the sandbox's scrub set with the
  // next snapshot (the data path already reads them from the vault).
  std::shared_ptr<secrets::OAuthVault> vault;
  {
    std::lock_guard<std::mutex> lock(s->reload_mu_);
    if (s->snapshot_) vault = s->snapshot_->oauth;
  }
  if (vault && vault->takeChanged()) s->reloadAndLog("OAuth tokens stored");
  // Workers leave their loops once drained; the main loop follows.
  if (s->shutting_down_ && s->workers_exited_.load() == static_cast<int>(s->workers_.size())) {
    event_base_loopbreak(s->base_);
  }
}

void Server::beginShutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  global_metrics_.draining = 1;
  spdlog::info("shutting down: draining connections (up to {} ms)",
               config_.limits.drain_timeout.count());
  for (auto& w : workers_) w->drain(config_.limits.drain_timeout);
}

void Server::stop() { beginShutdown(); }

Status Server::reload() {
  std::lock_guard<std::mutex> lock(reload_mu_);
  Status st = reloadLocked();
  global_metrics_.reloaded(st.isOk(), unixNow());
  return st;
}

Status Server::reloadLocked() {
  config::ProxyConfig next = config_;
  if (!config_path_.empty()) {
    auto c = config::loadConfig(config_path_);
    if (!c) return c.status();
    // `listen` and `dns_listen` may change (new sandbox networks); a port 0
    // entry means the port this proxy already bound on that address. The
    // rest is fixed at start.
    auto keepBound = [](std::vector<std::string>& wanted, const std::vector<std::string>& bound) {
      for (auto& l : wanted) {
        std::string host, cur_host;
        uint16_t port = 0, cur_port = 0;
        if (!config::splitHostPort(l, &host, &port) || port != 0) continue;
        for (const auto& cur : bound) {
          if (config::splitHostPort(cur, &cur_host, &cur_port) && cur_host == host) l = cur;
        }
      }
    };
    keepBound(c->listen, config_.listen);
    keepBound(c->dns_listen, config_.dns_listen);
    c->workers = config_.workers;
    c->transparent_listen = config_.transparent_listen;  // fixed at start, like the workers
    c->metrics_listen = config_.metrics_listen;
    c->admin_listen = config_.admin_listen;
    c->policy_log_path = config_.policy_log_path;
    if (!config_.state_dir.empty() && c->state_dir.empty()) c->state_dir = config_.state_dir;
    next = std::move(c.value());
  }
  auto snap = buildSnapshot(next, snapshot_.get());
  if (!snap) return snap.status();
  Status listen_status = applyListenChanges(next.listen);
  if (!listen_status) return listen_status;
  if (dns_ || !next.dns_listen.empty()) {
    const std::vector<std::string> asked = next.dns_listen;
    Status dns_status = dns_ ? dns_->listen(next.dns_listen) : startDns(next.dns_listen);
    if (!dns_status) return dns_status;
    if (next.dns_listen != asked) {  // a port 0 was bound: the proxy's own endpoints changed
      snap = buildSnapshot(next, snapshot_.get());
      if (!snap) return snap.status();
    }
  }
  config_ = std::move(next);
  snapshot_ = std::move(snap.value());
  for (auto& w : workers_) w->publish(snapshot_);
  global_metrics_.snapshot_loaded_unix = snapshot_->loaded_at_unix;
  global_metrics_.setLimits(config_.limits);
  return Status::ok();
}

std::shared_ptr<const Snapshot> Server::currentSnapshot() {
  std::lock_guard<std::mutex> lock(reload_mu_);  // the refresher thread; never the data path
  return snapshot_;
}

StatusOr<secrets::TokenAnswer> Server::postTokenRequest(const secrets::TokenRequest& r) {
  // The same rules as the sandbox's own requests to the token endpoint: its
  // policy, the proxy's endpoints refused, verified TLS.
  const std::shared_ptr<const Snapshot> snap = currentSnapshot();
  const sandbox::Sandbox* sandbox = snap->registry->find(r.sandbox);
  if (sandbox == nullptr) return Status::error("sandbox " + r.sandbox + " is not registered");
  upstream::HttpsPostSettings settings;
  settings.policy = &sandbox->policy();
  settings.self = &snap->self;
  settings.static_hosts = snap->static_hosts.get();
  settings.tls = snap->upstream_tls.get();
  settings.timeout = snap->config.limits.connect_timeout;
  settings.max_body = secrets::kMaxTokenAnswer;
  auto answer = upstream::postHttps(
      {r.host, r.port, r.path, "application/x-www-form-urlencoded", r.body}, settings);
  if (!answer) return answer.status();
  return secrets::TokenAnswer{answer->status, std::move(answer->body)};
}

void Server::refreshEnded(const std::shared_ptr<secrets::OAuthSlot>& slot,
                          secrets::OAuthRefresher::Result result) {
  using Result = secrets::OAuthRefresher::Result;
  if (result == Result::kOk) global_metrics_.oauth_refresh_ok.fetch_add(1);
  if (result == Result::kFailed) global_metrics_.oauth_refresh_failed.fetch_add(1);
  // Requests parked for this credential go on, with what is stored now.
  for (Worker* w : shared_.workers) {
    w->post([w, slot] { w->oauthWaits().wake(slot.get()); });
  }
}

Status Server::startDns(std::vector<std::string>& addresses) {
  dns_resolver_ = std::make_unique<tunnel::EvdnsResolver>(base_);
  dns_ = std::make_unique<dns::Responder>(
      base_, *dns_resolver_, names_, steadyClock(),
      [this] {
        std::shared_ptr<const Snapshot> snap;
        {
          std::lock_guard<std::mutex> lock(reload_mu_);  // the main loop; never the data path
          snap = snapshot_;
        }
        dns::Inputs in;
        in.registry = snap->registry;
        in.static_hosts = snap->static_hosts;
        in.self = &snap->self;
        in.keep_alive = snap;
        return in;
      },
      [this](const admin::PolicyRecord& r) {
        std::string line;
        admin::PolicyLog::format(r, &line);
        if (policy_log_->enabled()) policy_log_->writeBatch(line);
      },
      dns::Responder::Options{dns::TcpLimits{}, &global_metrics_.dns});
  return dns_->listen(addresses);
}

Status Server::applyListenChanges(std::vector<std::string>& wanted) {
  auto contains = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  // Bind every new address for every worker first: a bind error fails the
  // reload before anything changes.
  std::vector<std::pair<std::string, std::vector<UniqueFd>>> added;
  for (auto& addr : wanted) {
    if (contains(config_.listen, addr)) continue;
    std::vector<UniqueFd> fds;
    for (size_t i = 0; i < workers_.size(); ++i) {
      auto fd = listenOn(addr);
      if (!fd) return fd.status();
      if (i == 0) addr = boundAddress(fd->get());  // resolves a port 0 for the other workers
      fds.push_back(std::move(fd.value()));
    }
    added.emplace_back(addr, std::move(fds));
  }
  for (auto& [addr, fds] : added) {
    for (size_t i = 0; i < workers_.size(); ++i) workers_[i]->addListener(addr, std::move(fds[i]));
    spdlog::info("listening on {}", addr);
  }
  for (const auto& addr : config_.listen) {
    if (contains(wanted, addr)) continue;
    for (auto& w : workers_) w->removeListener(addr);
    spdlog::info("stopped listening on {}", addr);
  }
  return Status::ok();
}

std::string Server::adminAddress() const {
  size_t i = config_.metrics_listen.empty() ? 0 : 1;
  return config_.admin_listen.empty() ? "" : admin_->boundAddress(i);
}

Status Server::writeReadyFile(const std::string& path) const {
  std::string text;
  for (const auto& l : config_.listen) text += "listen=" + l + "\n";
  for (const auto& l : config_.transparent_listen) text += "transparent=" + l + "\n";
  if (dns_) {
    for (const auto& l : dns_->addresses()) text += "dns=" + l + "\n";
  }
  if (!config_.metrics_listen.empty()) text += "metrics=" + admin_->boundAddress(0) + "\n";
  if (!config_.admin_listen.empty()) text += "admin=" + adminAddress() + "\n";
  text += "pid=" + std::to_string(::getpid()) + "\n";
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return Status::error("cannot write " + tmp);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::error("cannot rename " + tmp);
  return Status::ok();
}

std::string Server::metricsText() const {
  std::vector<const prometheus::Collectable*> c;
  c.reserve(collectors_.size());
  for (const auto& p : collectors_) c.push_back(p.get());
  return admin::renderPrometheus(c);
}

}  // namespace kitgate::server
