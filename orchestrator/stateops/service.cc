#include "orchestrator/stateops/service.h"

#include "orchestrator/stateops/policy_ops.h"

namespace kitgate::stateops {

namespace {

class LocalStateService final : public StateService {
 public:
  explicit LocalStateService(state::Paths paths) : paths_(std::move(paths)) {}
  const state::Paths* localPaths() const override { return &paths_; }
  StatusOr<Outcome> storeSecret(const state::SecretSource& key, const std::string& value,
                                const state::SecretSource* source) override {
    return stateops::storeSecret(paths_, key, value, source);
  }
  StatusOr<Outcome> removeSecret(const SecretSelector& selector, bool dry_run) override {
    return stateops::removeSecret(paths_, selector, dry_run);
  }
  StatusOr<std::string> listSecrets() override { return stateops::listSecrets(paths_); }
  StatusOr<Outcome> addRules(bool allow, const std::string& sandbox,
                             const std::vector<std::string>& rules) override {
    return stateops::addRules(paths_, allow, sandbox, rules);
  }
  StatusOr<Outcome> removeRules(const std::string& sandbox, const std::vector<std::string>& rules,
                                bool dry_run) override {
    return stateops::removeRules(paths_, sandbox, rules, dry_run);
  }
  StatusOr<std::string> listRules() override { return stateops::listRules(paths_); }
  StatusOr<std::string> checkTarget(const std::string& sandbox,
                                    const std::string& target) override {
    return stateops::checkTarget(paths_, sandbox, target);
  }
  StatusOr<std::string> readLog(const state::LogFilter& filter, bool summary,
                                size_t limit) override {
    return stateops::readLog(paths_, filter, summary, limit);
  }

 private:
  state::Paths paths_;
};

}  // namespace

std::unique_ptr<StateService> makeLocalStateService(state::Paths paths) {
  return std::make_unique<LocalStateService>(std::move(paths));
}

}  // namespace kitgate::stateops
