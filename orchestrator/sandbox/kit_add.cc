#include "orchestrator/sandbox/kit_add.h"

#include <algorithm>

#include "kitloader/compose.h"
#include "orchestrator/sandbox/run_record.h"

namespace kitgate::sandbox {

namespace {

void tell(const std::function<void(std::string_view)>& fn, std::string_view text) {
  if (fn) fn(text);
}

std::string singleQuoted(std::string_view v) {
  std::string out = "'";
  for (char c : v) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

StatusOr<KitAddResult> addKitToSandbox(docker::DockerClient& docker, ProxyControl& proxy,
                                       const state::Paths& paths, const KitAddRequest& req,
                                       const Progress& progress, CreateFailure* failure) {
  const kit::Kit& mixin = req.mixin;
  std::vector<std::string> refusals = kit::kitAddRefusals(mixin);
  if (!refusals.empty()) {
    std::string all;
    for (const std::string& r : refusals) all += (all.empty() ? "" : "\n  ") + r;
    return Status::error(all);
  }
  auto record = loadRunRecord(paths.runDir(), req.sandbox);
  if (!record.isOk()) return Status::error("no sandbox named " + req.sandbox);
  const std::string& wants = !mixin.requires_agent.empty() ? mixin.requires_agent : mixin.extends;
  if (!wants.empty() && wants != record->agent) {
    return Status::error("mixin \"" + mixin.name + "\" requires agent \"" + wants +
                         "\", but sandbox " + req.sandbox + " runs \"" + record->agent + "\"");
  }
  auto info = docker.inspectContainer(record->container_id);
  if (!info.isOk()) return info.status();
  if (!info->has_value() || !(*info)->state.running) {
    return Status::error("sandbox " + req.sandbox + " is not running; start it (kitgate run " +
                         req.sandbox + ") and add the kit again");
  }

  KitAddResult result;
  // 1. Allow rules: appended to the registration, then the proxy reloads.
  auto registration = state::loadSandbox(paths, req.sandbox);
  if (!registration.isOk()) return registration.status();
  const state::SandboxRecord before = *registration;
  state::SandboxRecord after = before;
  for (const std::string& rule : mixin.allow) {
    if (std::find(after.allow.begin(), after.allow.end(), rule) != after.allow.end()) continue;
    after.allow.push_back(rule);
    result.added_allow.push_back(rule);
  }
  auto restore = [&] {
    if (result.added_allow.empty()) return;
    if (state::writeSandbox(paths, before).isOk()) (void)proxy.reload();
  };
  if (!result.added_allow.empty()) {
    tell(progress.step, "Allowing " + std::to_string(result.added_allow.size()) +
                            " more host rule(s) for " + req.sandbox);
    if (Status s = state::writeSandbox(paths, after); !s.isOk()) return s;
    if (Status s = proxy.reload(); !s.isOk()) {
      restore();
      return Status::error("proxy reload: " + s.message());
    }
  }

  // 2. Variables: exported for new shells.
  std::string exports;
  for (const auto& [name, value] : mixin.environment) {
    if (kit::isRuntimeOwnedVariable(name)) {
      result.skipped.push_back(name);
      tell(progress.warning, "kit variable " + name + " is set by kitgate; not exported");
      continue;
    }
    exports += "export " + name + "=" + singleQuoted(value) + "\n";
    result.exported.push_back(name);
  }
  if (!exports.empty()) {
    docker::ExecSpec spec;
    spec.cmd = {"sh",          "-c",    "printf '%s' \"$1\" >> \"$2\"",
                "kitgate-env", exports, std::string(kPersistentEnvFile)};
    spec.user = "0";
    auto r = docker.exec(record->container_id, spec);
    if (!r.isOk() || r->exit_code != 0) {
      restore();
      return Status::error("could not write " + std::string(kPersistentEnvFile) + ": " +
                           (r.isOk() ? r->stderr_text : r.status().message()));
    }
  }

  // 3. Install commands, in declaration order, as their users.
  for (const kit::InstallStep& step : mixin.setup.install) {
    const std::string desc = step.description.empty() ? step.command : step.description;
    tell(progress.step, "install: " + desc);
    docker::ExecSpec spec;
    spec.cmd = {"sh", "-c", step.command};
    spec.user = step.user.empty() ? "0" : step.user;
    spec.working_dir = record->workspace;
    auto r = docker.execStreaming(
        record->container_id, spec,
        [&](docker::OutputStream, std::string_view text) { tell(progress.output, text); });
    if (!r.isOk() || r->exit_code != 0) {
      restore();
      if (failure) {
        failure->step = "install: " + desc;
        failure->exit_code = r.isOk() ? r->exit_code : 0;
        failure->output = r.isOk() ? r->stdout_text + r->stderr_text : "";
      }
      return Status::error("install: " + desc + " failed" +
                           (r.isOk() ? " (exit " + std::to_string(r->exit_code) + ")"
                                     : ": " + r.status().message()) +
                           "; the sandbox's rules are as before");
    }
    ++result.installs;
  }

  // 4. The record lists the kit (ls, and a later rm + run with the same kits).
  record->kit += (record->kit.empty() ? "" : ",") + req.ref;
  if (Status s = saveRunRecord(paths.runDir(), *record); !s.isOk()) {
    tell(progress.warning, "the run record could not be saved: " + s.message());
  }
  return result;
}

}  // namespace kitgate::sandbox
