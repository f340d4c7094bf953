// `kitgate ls [--json]`: the sandboxes `kitgate run` created.
#include <nlohmann/json.hpp>
#include <ostream>

#include "orchestrator/cli/sandbox_cli.h"
#include "orchestrator/cli/state_cli.h"

namespace kitgate::cli {

namespace {
constexpr std::string_view kCmd = "ls";
constexpr std::string_view kLsUsage =
    "Usage: kitgate ls [--json]\n\n"
    "Lists the sandboxes created by 'kitgate run': name, agent, container state,\n"
    "image, workspace and creation time.\n\n"
    "Options:\n"
    "  --json   an array of {name, agent, state, image, workspace, kit, container,\n"
    "           network, created}\n\n"
    "Examples:\n"
    "  kitgate ls\n"
    "  kitgate ls --json\n";
}  // namespace

int runLsCommand(const Args& args, Io& io) {
  bool json = false;
  for (const std::string& a : args) {
    if (isHelpFlag(a)) {
      io.out << kLsUsage;
      return kExitOk;
    }
    if (a == "--json") {
      json = true;
      continue;
    }
    return usageError(io, kCmd, kLsUsage, "unexpected argument " + a);
  }
  auto ctx = openSandboxContext();
  if (!ctx.isOk()) return fail(io, kCmd, ctx.status().message());
  auto list = ctx->manager->list();
  if (!list.isOk()) return fail(io, kCmd, list.status().message());
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : *list) {
      out.push_back({{"name", s.record.name},
                     {"agent", s.record.agent},
                     {"state", s.state},
                     {"image", s.record.image},
                     {"workspace", s.record.workspace},
                     {"kit", s.record.kit},
                     {"container", s.record.container},
                     {"network", s.record.network},
                     {"created", s.record.created}});
    }
    io.out << out.dump(2) << "\n";
    return kExitOk;
  }
  if (list->empty()) {
    io.out << "No sandboxes. Create one with: kitgate run --kit ./amp/ amp\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : *list) {
    rows.push_back({s.record.name, s.record.agent, s.state, s.record.image, s.record.workspace,
                    s.record.created});
  }
  printTable(io.out, io.out_color, {"NAME", "AGENT", "STATE", "IMAGE", "WORKSPACE", "CREATED"},
             rows);
  return kExitOk;
}

}  // namespace kitgate::cli
