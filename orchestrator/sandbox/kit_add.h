// `kitgate kit add SANDBOX REF`: a mixin added to a running sandbox
// (kit-spec §3.12). kitgate's sandbox is a long-lived container, so instead
// of sbx's commit-and-swap the mixin is applied in place: its allow rules are
// appended to the sandbox's registration (proxy reloaded), its variables are
// exported from /etc/sandbox-persistent.sh (new shells see them; the running
// agent process does not), and its setup.install commands run in the
// container as their users. Only mixins whose fields can be applied this way
// are accepted (kit::kitAddRefusals); a failed install restores the
// registration. The run record lists the added kit.
//
// Threads: the caller's; borrows the client and the proxy control.
#pragma once

#include <string>
#include <vector>

#include "kitloader/kit.h"
#include "orchestrator/docker/docker_client.h"
#include "orchestrator/sandbox/manager.h"
#include "orchestrator/state/state.h"
#include "proxy/common/status.h"

namespace kitgate::sandbox {

// Where kit add exports a mixin's variables (sourced by bash login shells).
inline constexpr std::string_view kPersistentEnvFile = "/etc/sandbox-persistent.sh";

struct KitAddRequest {
  std::string sandbox;
  kit::Kit mixin;
  std::string ref;  // redacted, recorded in the run record
};

struct KitAddResult {
  std::vector<std::string> added_allow;  // rules that were not there yet
  std::vector<std::string> exported;     // variable names written to kPersistentEnvFile
  std::vector<std::string> skipped;      // runtime-owned variables not exported
  int installs = 0;                      // setup.install commands run
};

StatusOr<KitAddResult> addKitToSandbox(docker::DockerClient& docker, ProxyControl& proxy,
                                       const state::Paths& paths, const KitAddRequest& request,
                                       const Progress& progress, CreateFailure* failure = nullptr);

}  // namespace kitgate::sandbox
