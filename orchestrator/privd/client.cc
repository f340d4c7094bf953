#include "orchestrator/privd/client.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "proxy/common/unique_fd.h"

namespace kitgate::privd {

namespace {

// Long enough for a proxy start or an iptables run under load.
constexpr int kCallTimeoutSeconds = 60;

Request requestOf(Verb verb) {
  Request r;
  r.verb = verb;
  return r;
}

Status connectError(const std::string& path, int err) {
  if (err == ENOENT || err == ECONNREFUSED) {
    return Status::error(
        "kitgate is not running as root and the kitgate daemon is not running (no daemon at " +
        path +
        "): start it with `sudo systemctl enable --now kitgate-daemon`, or run kitgate "
        "with sudo");
  }
  if (err == EACCES || err == EPERM) {
    return Status::error("cannot reach the kitgate daemon at " + path +
                         ": permission denied — your user is not in the docker group (`sudo "
                         "usermod -aG docker $USER`, then log in again), or run kitgate with "
                         "sudo");
  }
  return Status::error("cannot reach the kitgate daemon at " + path + ": " + std::strerror(err));
}

class DaemonFirewall final : public sandbox::HostFirewall {
 public:
  explicit DaemonFirewall(std::string socket) : socket_(std::move(socket)) {}
  // Only the name goes over: the daemon derives the rule set (subnet,
  // gateway, bridge, its proxy's ports) itself.
  Status isolate(const sandbox::FirewallSpec& spec) override {
    Request r;
    r.verb = Verb::kFirewallIsolate;
    r.name = spec.name;
    return callOk(socket_, r).status();
  }
  Status release(const std::string& name) override {
    Request r;
    r.verb = Verb::kFirewallRelease;
    r.name = name;
    return callOk(socket_, r).status();
  }

 private:
  std::string socket_;
};

class DaemonProxyControl final : public sandbox::ProxyControl {
 public:
  explicit DaemonProxyControl(std::string socket) : socket_(std::move(socket)) {}
  Status ensureRunning() override {
    auto r = callOk(socket_, requestOf(Verb::kProxyEnsure));
    if (!r.isOk()) return r.status();
    repairs_.insert(repairs_.end(), r->lines.begin(), r->lines.end());
    return Status::ok();
  }
  Status reload() override { return callOk(socket_, requestOf(Verb::kProxyReload)).status(); }
  Status addListen(const std::string& addr) override { return listen(Verb::kListenAdd, addr); }
  Status removeListen(const std::string& addr) override {
    return listen(Verb::kListenRemove, addr);
  }
  Status addDnsListen(const std::string& addr) override {
    return listen(Verb::kDnsListenAdd, addr);
  }
  Status removeDnsListen(const std::string& addr) override {
    return listen(Verb::kDnsListenRemove, addr);
  }
  StatusOr<int> transparentPort() override {
    auto r = callOk(socket_, requestOf(Verb::kTransparentPort));
    if (!r.isOk()) return r.status();
    int port = 0;
    for (char ch : r->text) {
      if (ch < '0' || ch > '9' || port > 65535)
        return Status::error("daemon: bad transparent port");
      port = port * 10 + (ch - '0');
    }
    if (port <= 0 || port > 65535) return Status::error("daemon: bad transparent port");
    return port;
  }
  // The proxy's gateway listener is reachable from the host: probe it directly.
  Status checkServes(const std::string& listen, const std::string& name,
                     const std::string& token) override {
    return state::probeSandbox(listen, name, token);
  }
  std::vector<std::string> takeRepairs() override { return std::exchange(repairs_, {}); }

 private:
  Status listen(Verb verb, const std::string& addr) {
    Request r;
    r.verb = verb;
    r.listen = addr;
    return callOk(socket_, r).status();
  }
  std::string socket_;
  std::vector<std::string> repairs_;
};

class DaemonRegistry final : public sandbox::RegistrationStore {
 public:
  explicit DaemonRegistry(std::string socket) : socket_(std::move(socket)) {}
  bool local() const override { return false; }
  StatusOr<std::vector<std::pair<std::string, std::string>>> placeholders(
      const std::string& name) override {
    auto r = named(Verb::kPlaceholders, name);
    if (!r.isOk()) return r.status();
    return r->pairs;
  }
  Status write(const std::string& name, const std::string& subnet, const std::string& token,
               const std::vector<std::string>& allow, const std::vector<std::string>& deny,
               const std::vector<state::Route>& routes,
               const std::vector<secrets::OAuthRoute>& oauth) override {
    (void)subnet;  // the daemon reads it from the sandbox's network
    Request r = requestOf(Verb::kSandboxWrite);
    r.name = name;
    r.token = token;
    r.allow = allow;
    r.deny = deny;
    r.routes = routes;
    r.oauth = oauth;
    return callOk(socket_, r).status();
  }
  Status remove(const std::string& name) override {
    return named(Verb::kSandboxRemove, name).status();
  }
  Status removeCa(const std::string& name) override {
    return named(Verb::kCaRemove, name).status();
  }
  StatusOr<bool> removeScopedSecrets(const std::string& name) override {
    auto r = named(Verb::kSecretsRemove, name);
    if (!r.isOk()) return r.status();
    return r->text == "removed";
  }
  std::string caCert(const std::string& name) override {
    auto r = named(Verb::kSandboxCa, name);
    return r.isOk() ? r->text : "";
  }
  StatusOr<std::string> token(const std::string& name) override {
    auto r = named(Verb::kSandboxToken, name);
    if (!r.isOk()) return r.status();
    return r->text;
  }
  StatusOr<std::string> stateRoot() override {
    auto r = callOk(socket_, requestOf(Verb::kHello));
    if (!r.isOk()) return r.status();
    return r->text;
  }

 private:
  StatusOr<Response> named(Verb verb, const std::string& name) {
    Request r = requestOf(verb);
    r.name = name;
    return callOk(socket_, r);
  }
  std::string socket_;
};

stateops::Outcome outcomeOf(const Response& r) {
  stateops::Outcome o;
  o.notes = r.notes;
  o.done = r.text;
  o.reload_error = r.reload_error;
  o.warnings = r.warnings;
  return o;
}

class DaemonStateService final : public stateops::StateService {
 public:
  explicit DaemonStateService(std::string socket) : socket_(std::move(socket)) {}
  const state::Paths* localPaths() const override { return nullptr; }
  StatusOr<stateops::Outcome> storeSecret(const state::SecretSource& key, const std::string& value,
                                          const state::SecretSource* source) override {
    if (source != nullptr) {
      return Status::error("the kitgate daemon never runs a secret's command: resolve it first");
    }
    const bool service = key.kind == state::SecretSource::Kind::kService;
    Request r = requestOf(service ? Verb::kSecretSet : Verb::kSecretSetCustom);
    r.scope = key.scope;
    (service ? r.service : r.env) = key.name;
    r.hosts = key.hosts;
    r.placeholder = key.placeholder;
    r.value = value;
    return change(r);
  }
  StatusOr<stateops::Outcome> removeSecret(const stateops::SecretSelector& sel,
                                           bool dry_run) override {
    Request r = requestOf(Verb::kSecretRemove);
    r.scope = sel.scope;
    r.service = sel.service;
    r.host = sel.host;
    r.placeholder = sel.placeholder;
    r.check = dry_run;
    return change(r);
  }
  StatusOr<std::string> listSecrets() override { return text(requestOf(Verb::kSecretList)); }
  StatusOr<stateops::Outcome> addRules(bool allow, const std::string& sandbox,
                                       const std::vector<std::string>& rules) override {
    Request r = requestOf(allow ? Verb::kPolicyAllow : Verb::kPolicyDeny);
    r.name = sandbox;
    r.rules = rules;
    return change(r);
  }
  StatusOr<stateops::Outcome> removeRules(const std::string& sandbox,
                                          const std::vector<std::string>& rules,
                                          bool dry_run) override {
    Request r = requestOf(Verb::kPolicyRemove);
    r.name = sandbox;
    r.rules = rules;
    r.check = dry_run;
    return change(r);
  }
  StatusOr<std::string> listRules() override { return text(requestOf(Verb::kPolicyList)); }
  StatusOr<std::string> checkTarget(const std::string& sandbox,
                                    const std::string& target) override {
    Request r = requestOf(Verb::kPolicyCheck);
    r.name = sandbox;
    r.target = target;
    return text(r);
  }
  StatusOr<std::string> readLog(const state::LogFilter& filter, bool summary,
                                size_t limit) override {
    Request r = requestOf(Verb::kPolicyLog);
    r.name = filter.sandbox;
    r.decision = filter.decision;
    r.host = filter.host;
    r.summary = summary;
    r.limit = std::min<size_t>(limit, kMaxLogLimit);
    return text(r);
  }

 private:
  // The daemon's refusal is the command's error as it would be locally.
  StatusOr<Response> ask(const Request& r) {
    auto reply = call(socket_, r);
    if (!reply.isOk()) return reply.status();
    if (!reply->ok) return Status::error(reply->error);
    return reply;
  }
  StatusOr<stateops::Outcome> change(const Request& r) {
    auto reply = ask(r);
    if (!reply.isOk()) return reply.status();
    return outcomeOf(*reply);
  }
  StatusOr<std::string> text(const Request& r) {
    auto reply = ask(r);
    if (!reply.isOk()) return reply.status();
    return reply->text;
  }
  std::string socket_;
};

}  // namespace

std::string defaultSocketPath() {
  const char* env = std::getenv("KITGATE_DAEMON_SOCKET");
  return env != nullptr && *env != '\0' ? env : kDefaultSocket;
}

StatusOr<Response> call(const std::string& socket_path, const Request& request) {
  sockaddr_un addr{};
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path) {
    return Status::error("daemon socket path too long: " + socket_path);
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::error(std::string("socket: ") + std::strerror(errno));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return connectError(socket_path, errno);
  }
  timeval tv{kCallTimeoutSeconds, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const std::string bytes = encodeRequest(request);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the daemon may have refused already: read its answer
    done += static_cast<size_t>(n);
  }
  ::shutdown(fd.get(), SHUT_WR);
  std::string reply;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return Status::error("no answer from the kitgate daemon at " + socket_path + ": " +
                           std::strerror(errno));
    }
    if (n == 0) break;
    reply.append(buf, static_cast<size_t>(n));
    if (reply.size() > kMaxResponseBytes) break;
  }
  if (reply.empty())
    return Status::error("the kitgate daemon at " + socket_path + " closed the connection");
  return parseResponse(reply);
}

StatusOr<Response> callOk(const std::string& socket_path, const Request& request) {
  auto r = call(socket_path, request);
  if (!r.isOk()) return r;
  if (!r->ok) return Status::error("kitgate daemon: " + r->error);
  return r;
}

std::unique_ptr<sandbox::HostFirewall> makeDaemonFirewall(std::string socket_path) {
  return std::make_unique<DaemonFirewall>(std::move(socket_path));
}
std::unique_ptr<sandbox::ProxyControl> makeDaemonProxyControl(std::string socket_path) {
  return std::make_unique<DaemonProxyControl>(std::move(socket_path));
}

std::unique_ptr<sandbox::RegistrationStore> makeDaemonRegistry(std::string socket_path) {
  return std::make_unique<DaemonRegistry>(std::move(socket_path));
}

}  // namespace kitgate::privd

namespace kitgate::privd {

std::unique_ptr<stateops::StateService> makeDaemonStateService(std::string socket_path) {
  return std::make_unique<DaemonStateService>(std::move(socket_path));
}

}  // namespace kitgate::privd
