// `kitgate run --dry-run`: the plan of a composed kit, printed for a person,
// without touching Docker, the proxy or the state directory.
//
// The facts only a real run knows (the sandbox network's gateway and subnet,
// the identification token, the interception CA) are shown as <placeholders>.
// Pure functions, any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kitloader/compose.h"
#include "orchestrator/cli/app.h"
#include "orchestrator/sandbox/manager.h"
#include "orchestrator/sandbox/plan.h"
#include "proxy/common/status.h"

namespace kitgate::cli {

inline constexpr std::string_view kDryRunGateway = "<gateway>";
inline constexpr std::string_view kDryRunSubnet = "<sandbox-subnet>";
inline constexpr std::string_view kDryRunToken = "<identification-token>";

// What `run` would ask the executor to create, and how it composed the kits.
struct DryRunRequest {
  sandbox::CreateRequest create;  // kit = the composed kit
  kit::Composition composition;
  std::vector<std::string> run_steps;  // the executor's step labels, in order
};

// The PlanInput a dry run plans with (placeholders for the run-time facts;
// a CA placeholder when the composed kit has credential routes).
sandbox::PlanInput dryRunInput(const DryRunRequest& request);

// Plans and renders: kits, image, container, environment (placeholders, never
// a secret), network rules, intercepted hosts, setup steps in order, warnings.
StatusOr<std::string> renderDryRun(const DryRunRequest& request);

// `run --dry-run`: the rendered plan on io.out (exit 0), or the planning
// error on io.err (exit 1).
int printDryRun(const DryRunRequest& request, Io& io);

}  // namespace kitgate::cli
