// kitgate-proxy: flags -> config -> Server. Everything else is in the libraries.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "proxy/config/config.h"
#include "proxy/server/server.h"
#include "proxy/server/snapshot.h"

namespace {

constexpr const char* kUsage = R"(usage: kitgate-proxy [--config FILE] [options]

The kitgate egress proxy: CONNECT tunnels and plain-HTTP forwarding under a
per-sandbox domain policy, with a JSON policy log and Prometheus metrics.

options:
  --config FILE       proxy.yaml (default: built-in defaults, see configs/proxy.yaml)
  --validate          check the config and the state directory, print problems, exit
  --workers N         worker threads (default: config, else number of cores)
  --listen ADDR       override `listen` (IP:port; repeatable)
  --state-dir DIR     override `state_dir` (sandbox registry)
  --log FILE          override the policy log path ("-" = stderr, "" = off)
  --metrics ADDR      override `metrics_listen` ("" = off)
  --admin ADDR        override `admin_listen` (IP:port or unix:/path; "" = off)
  --ready-file FILE   once listening, write the bound addresses there (listen=, metrics=, admin=)
  --help, --version

examples:
  kitgate-proxy --config configs/proxy.yaml
  kitgate-proxy --validate --config /etc/kitgate/proxy.yaml
  curl -x http://127.0.0.1:3128 https://github.com/
)";

int usageError(const std::string& msg) {
  std::fprintf(stderr, "kitgate-proxy: %s\n(see kitgate-proxy --help)\n", msg.c_str());
  return 2;
}

// Two fds per tunnel: raise the soft open-file limit to the hard one, as
// other proxies do, so max_connections is not capped by a default of 1024.
void raiseFileLimit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool validate = false;
  int workers = -1;
  std::vector<std::string> listen;
  std::optional<std::string> state_dir, log_path, metrics, admin_addr, ready_file;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      (void)name;
      return std::string(argv[++i]);
    };
    std::optional<std::string> v;
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--version") {
      std::puts("kitgate-proxy " KITGATE_VERSION);
      return 0;
    } else if (a == "--validate") {
      validate = true;
    } else if (a == "--config" || a == "--workers" || a == "--listen" || a == "--state-dir" || a == "--log" ||
               a == "--metrics" || a == "--admin" || a == "--ready-file") {
      v = value(a.c_str());
      if (!v) return usageError(a + " needs a value");
      if (a == "--config") config_path = *v;
      if (a == "--listen") listen.push_back(*v);
      if (a == "--state-dir") state_dir = *v;
      if (a == "--log") log_path = *v;
      if (a == "--metrics") metrics = *v;
      if (a == "--admin") admin_addr = *v;
      if (a == "--ready-file") ready_file = *v;
      if (a == "--workers") {
        char* end = nullptr;
        long n = std::strtol(v->c_str(), &end, 10);
        if (*end != '\0' || n < 1 || n > 256) return usageError("--workers needs a number from 1 to 256");
        workers = static_cast<int>(n);
      }
    } else {
      return usageError("unknown argument '" + a + "'");
    }
  }

  auto cfg = config_path.empty() ? kitgate::config::parseConfig("", "<defaults>")
                                 : kitgate::config::loadConfig(config_path);
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.status().message().c_str());
    return 1;
  }
  if (workers > 0) cfg->workers = workers;
  if (!listen.empty()) cfg->listen = listen;
  if (state_dir) cfg->state_dir = *state_dir;
  if (log_path) cfg->policy_log_path = *log_path;
  if (metrics) cfg->metrics_listen = *metrics;
  if (admin_addr) cfg->admin_listen = *admin_addr;
  spdlog::set_level(spdlog::level::from_str(cfg->log_level));

  if (validate) {
    auto snap = kitgate::server::buildSnapshot(cfg.value(), nullptr);
    if (!snap) {
      std::fprintf(stderr, "%s\n", snap.status().message().c_str());
      return 1;
    }
    std::printf("OK: %s (%zu sandbox%s)\n", config_path.empty() ? "<defaults>" : config_path.c_str(),
                (*snap)->registry->size(), (*snap)->registry->size() == 1 ? "" : "es");
    return 0;
  }

  raiseFileLimit();
  auto server = kitgate::server::Server::create(std::move(cfg.value()), config_path);
  if (!server) {
    std::fprintf(stderr, "kitgate-proxy: %s\n", server.status().message().c_str());
    return 1;
  }
  if (ready_file) {
    kitgate::Status st = (*server)->writeReadyFile(*ready_file);
    if (!st) {
      std::fprintf(stderr, "kitgate-proxy: %s\n", st.message().c_str());
      return 1;
    }
  }
  return (*server)->run();
}
