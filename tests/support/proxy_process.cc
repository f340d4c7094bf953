#include "tests/support/proxy_process.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "tests/support/wait.h"

namespace kitgate::testing {
namespace {

// YAML double-quoted scalar.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string yamlList(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + quoted(v[i]);
  return out + "]";
}

uint16_t portOf(const std::string& addr) {
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos) return 0;
  return static_cast<uint16_t>(std::atoi(addr.c_str() + colon + 1));
}

std::map<std::string, std::string> readReadyFile(const std::string& path) {
  std::map<std::string, std::string> kv;
  std::istringstream in(readFile(path));
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return kv;
}

}  // namespace

StatusOr<std::string> proxyBinary() {
  const char* dir = std::getenv("KITGATE_BUILD_DIR");
  if (dir == nullptr || *dir == '\0') dir = KITGATE_TEST_BUILD_DIR;  // the build tree these tests came from
  std::string path = std::string(dir) + "/proxy/kitgate-proxy";
  if (::access(path.c_str(), X_OK) != 0) return Status::error("no executable " + path + " (build kitgate-proxy)");
  return path;
}

std::string renderProxyConfig(const ProxyOptions& o, const std::string& policy_log, const std::string& state_dir) {
  std::string y;
  y += "listen: 127.0.0.1:0\n";
  y += "workers: " + std::to_string(o.workers) + "\n";
  y += "metrics_listen: 127.0.0.1:0\n";
  y += "admin_listen: 127.0.0.1:0\n";
  y += "state_dir: " + quoted(state_dir) + "\n";
  y += "policy_log: {path: " + quoted(policy_log) + "}\n";
  y += "log_level: warn\n";
  if (!o.limits.empty()) {
    y += "limits:\n";
    for (const auto& [k, v] : o.limits) y += "  " + k + ": " + std::to_string(v) + "\n";
  }
  if (!o.dns_hosts.empty()) {
    y += "dns:\n  hosts:\n";
    for (const auto& [k, v] : o.dns_hosts) y += "    " + quoted(k) + ": " + quoted(v) + "\n";
  }
  y += "allow: " + yamlList(o.allow) + "\n";
  y += "deny: " + yamlList(o.deny) + "\n";
  y += o.extra_yaml;
  return y;
}

StatusOr<std::unique_ptr<ProxyProcess>> ProxyProcess::start(ProxyOptions options,
                                                            std::chrono::milliseconds ready_timeout) {
  auto bin = proxyBinary();
  if (!bin) return bin.status();
  auto dir = TempDir::create("proxy");
  if (!dir) return dir.status();
  std::unique_ptr<ProxyProcess> p(new ProxyProcess);
  p->dir_ = std::make_unique<TempDir>(std::move(dir.value()));
  p->config_path_ = p->dir() + "/proxy.yaml";
  p->state_dir_ = p->dir() + "/state";
  p->policy_log_ = p->dir() + "/policy.log";
  std::error_code ec;
  std::filesystem::create_directories(p->state_dir_ + "/sandboxes", ec);
  if (ec) return Status::error("mkdir " + p->state_dir_ + ": " + ec.message());
  for (const auto& [rel, text] : options.state_files) {
    Status st = p->writeStateFile(rel, text);
    if (!st) return st;
  }
  Status st = writeFileAtomic(p->config_path_, renderProxyConfig(options, p->policy_log_, p->state_dir_));
  if (!st) return st;

  const std::string ready = p->dir() + "/ready";
  auto proc = Subprocess::spawn({*bin, "--config", p->config_path_, "--ready-file", ready}, p->dir() + "/proxy");
  if (!proc) return proc.status();
  p->process_ = std::make_unique<Subprocess>(std::move(proc.value()));
  bool ok = waitUntil([&] { return ::access(ready.c_str(), R_OK) == 0 || !p->process_->running(); }, ready_timeout);
  if (!p->process_->running()) {
    auto ex = p->process_->wait(1s);
    return Status::error("kitgate-proxy exited before it was ready (" + (ex ? ex->toString() : "?") +
                         "): " + p->stderrText());
  }
  if (!ok) return Status::error("kitgate-proxy not ready within the timeout: " + p->stderrText());
  auto kv = readReadyFile(ready);
  p->port_ = portOf(kv["listen"]);
  p->transparent_port_ = portOf(kv["transparent"]);
  p->metrics_port_ = portOf(kv["metrics"]);
  p->admin_port_ = portOf(kv["admin"]);
  if (p->port_ == 0 || p->admin_port_ == 0 || p->metrics_port_ == 0) {
    return Status::error("incomplete ready file: " + readFile(ready));
  }
  return p;
}

ProxyProcess::~ProxyProcess() {
  if (process_) process_->kill();
}

std::string ProxyProcess::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

Status ProxyProcess::writeStateFile(const std::string& relative_path, const std::string& text) {
  std::filesystem::path p = std::filesystem::path(state_dir_) / relative_path;
  std::error_code ec;
  std::filesystem::create_directories(p.parent_path(), ec);
  return writeFileAtomic(p.string(), text, 0600);
}

Status ProxyProcess::removeStateFile(const std::string& relative_path) {
  std::error_code ec;
  if (!std::filesystem::remove(std::filesystem::path(state_dir_) / relative_path, ec)) {
    return Status::error("cannot remove " + relative_path + ": " + ec.message());
  }
  return Status::ok();
}

Status ProxyProcess::rewriteConfig(const ProxyOptions& options) {
  return writeFileAtomic(config_path_, renderProxyConfig(options, policy_log_, state_dir_));
}

StatusOr<HttpResponse> ProxyProcess::admin(const std::string& method, const std::string& path) {
  return requestOnce(admin_port_, method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                     10s, method == "HEAD");
}

Status ProxyProcess::reloadViaSignal(std::chrono::milliseconds timeout) {
  const std::string ok_series = "kitgate_reloads_total{result=\"ok\"}";
  const std::string err_series = "kitgate_reloads_total{result=\"error\"}";
  auto ok0 = metric(ok_series);
  auto err0 = metric(err_series);
  if (!ok0 || !err0) return Status::error("cannot read the reload counters");
  Status st = signal(SIGHUP);
  if (!st) return st;
  std::optional<double> ok1, err1;
  bool moved = waitUntil(
      [&] {
        ok1 = metric(ok_series);
        err1 = metric(err_series);
        return ok1 && err1 && (*ok1 > *ok0 || *err1 > *err0);
      },
      timeout);
  if (!moved) return Status::error("SIGHUP: no reload observed");
  if (*err1 > *err0) return Status::error("SIGHUP: reload failed");
  return Status::ok();
}

StatusOr<ExitStatus> ProxyProcess::stop(std::chrono::milliseconds timeout) {
  Status st = signal(SIGTERM);
  if (!st) return st;
  auto exit = waitExit(timeout);
  if (!exit) return Status::error("kitgate-proxy did not exit within the timeout after SIGTERM");
  return *exit;
}

StatusOr<std::string> ProxyProcess::metricsText() {
  auto r = requestOnce(metrics_port_, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (!r) return r.status();
  if (r->status != 200) return Status::error("GET /metrics: status " + std::to_string(r->status));
  return r->body;
}

std::optional<double> ProxyProcess::metric(const std::string& series) {
  auto text = metricsText();
  if (!text) return std::nullopt;
  return metricValue(*text, series);
}

std::optional<double> metricValue(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ') {
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
    }
  }
  return std::nullopt;
}

std::vector<nlohmann::json> ProxyProcess::policyLog() const {
  std::vector<nlohmann::json> out;
  std::istringstream in(readFile(policy_log_));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) j = nlohmann::json{{"unparsed", line}};
    out.push_back(std::move(j));
  }
  return out;
}

std::optional<nlohmann::json> ProxyProcess::waitForLog(const std::function<bool(const nlohmann::json&)>& match,
                                                       std::chrono::milliseconds timeout) const {
  std::optional<nlohmann::json> found;
  waitUntil(
      [&] {
        for (auto& j : policyLog()) {
          if (match(j)) {
            found = std::move(j);
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

}  // namespace kitgate::testing
