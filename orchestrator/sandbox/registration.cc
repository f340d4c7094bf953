#include "orchestrator/sandbox/registration.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "orchestrator/sandbox/oauth_plan.h"

namespace kitgate::sandbox {

Status writeRegistration(const state::Paths& paths, const std::string& name,
                         const std::string& subnet, const std::string& token,
                         const std::vector<std::string>& allow,
                         const std::vector<std::string>& deny,
                         const std::vector<state::Route>& routes,
                         const std::vector<secrets::OAuthRoute>& oauth) {
  Status s =
      state::writeSandbox(paths, state::SandboxRecord{name, {subnet}, token, allow, deny, 0});
  if (s.isOk()) s = state::writeRoutes(paths, name, routes);
  if (s.isOk()) s = writeOAuthRoutes(paths.root, name, oauth);
  if (!s.isOk()) (void)removeRegistration(paths, name);
  return s;
}

Status removeRegistration(const state::Paths& paths, const std::string& name) {
  Status s = state::removeSandbox(paths, name);
  Status oauth = removeOAuthState(paths.root, name);
  return s.isOk() ? oauth : s;
}

Status removeSandboxCa(const state::Paths& paths, const std::string& name) {
  const std::string crt = paths.caCert(name);
  const std::string stem = crt.substr(0, crt.size() - 4);
  std::string problems;
  for (const std::string& f : {crt, stem + ".key", stem + ".outside"}) {
    if (::unlink(f.c_str()) != 0 && errno != ENOENT) {
      problems += (problems.empty() ? "" : "; ") + f + ": " + std::strerror(errno);
    }
  }
  return problems.empty() ? Status::ok() : Status::error(problems);
}

StatusOr<bool> removeScopedSecrets(const state::Paths& paths, const std::string& name) {
  auto lock = state::lockState(paths);
  if (!lock.isOk()) return lock.status();
  auto secrets = state::loadSecrets(paths);
  if (!secrets.isOk()) return secrets.status();
  const std::string scope = state::sandboxScope(name);
  state::Secrets kept;
  for (const auto& s : secrets->services) {
    if (s.scope != scope) kept.services.push_back(s);
  }
  for (const auto& c : secrets->custom) {
    if (c.scope != scope) kept.custom.push_back(c);
  }
  if (kept.services.size() == secrets->services.size() &&
      kept.custom.size() == secrets->custom.size()) {
    return false;
  }
  Status saved = state::saveSecrets(paths, kept);
  if (!saved.isOk()) return saved;
  return true;
}

namespace {

class LocalRegistry final : public RegistrationStore {
 public:
  explicit LocalRegistry(state::Paths paths) : paths_(std::move(paths)) {}
  bool local() const override { return true; }
  StatusOr<std::vector<std::pair<std::string, std::string>>> placeholders(
      const std::string& name) override {
    auto secrets = state::loadSecrets(paths_);
    if (!secrets.isOk()) return secrets.status();
    return state::placeholdersFor(*secrets, name);
  }
  Status write(const std::string& name, const std::string& subnet, const std::string& token,
               const std::vector<std::string>& allow, const std::vector<std::string>& deny,
               const std::vector<state::Route>& routes,
               const std::vector<secrets::OAuthRoute>& oauth) override {
    return writeRegistration(paths_, name, subnet, token, allow, deny, routes, oauth);
  }
  Status remove(const std::string& name) override { return removeRegistration(paths_, name); }
  Status removeCa(const std::string& name) override { return removeSandboxCa(paths_, name); }
  StatusOr<bool> removeScopedSecrets(const std::string& name) override {
    return sandbox::removeScopedSecrets(paths_, name);
  }
  std::string caCert(const std::string& name) override {
    std::ifstream in(paths_.caCert(name), std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }
  StatusOr<std::string> token(const std::string& name) override {
    auto record = state::loadSandbox(paths_, name);
    if (!record.isOk()) return record.status();
    return record->token;
  }
  StatusOr<std::string> stateRoot() override { return paths_.root; }

 private:
  state::Paths paths_;
};

}  // namespace

std::unique_ptr<RegistrationStore> makeLocalRegistry(state::Paths paths) {
  return std::make_unique<LocalRegistry>(std::move(paths));
}

}  // namespace kitgate::sandbox
