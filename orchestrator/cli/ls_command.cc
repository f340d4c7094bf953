// `kitgate ls [-q | --format TEMPLATE | --json]`: the sandboxes `kitgate run` created.
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <utility>
#include <vector>

#include "orchestrator/cli/sandbox_cli.h"
#include "orchestrator/cli/state_cli.h"

namespace kitgate::cli {

namespace {
constexpr std::string_view kCmd = "ls";
constexpr std::string_view kLsUsage =
    "Usage: kitgate ls [-q | --format TEMPLATE | --json]\n\n"
    "Lists the sandboxes created by 'kitgate run': name, agent, container state,\n"
    "image, workspace and creation time.\n\n"
    "Options:\n"
    "  -q, --quiet        names only, one a line\n"
    "  --format TEMPLATE  one line per sandbox from a Go-template-like text:\n"
    "                     {{.Name}} {{.Agent}} {{.State}} {{.Image}} {{.Workspace}}\n"
    "                     {{.Kit}} {{.Container}} {{.Network}} {{.Created}}\n"
    "                     {{.Ports}};\n"
    "                     \\t is a tab, \\n a newline\n"
    "  --json             an array of {name, agent, state, image, workspace, kit,\n"
    "                     container, network, created}\n\n"
    "Examples:\n"
    "  kitgate ls\n"
    "  kitgate ls -q | xargs kitgate stop\n"
    "  kitgate ls --format '{{.Name}}\\t{{.State}}'\n"
    "  kitgate ls --json\n";

// "127.0.0.1:41234->8080/tcp, …" (or the ports alone while unpublished).
std::string portsText(const sandbox::RunRecord& r) {
  std::string out;
  for (int port : r.ports) {
    std::string host;
    for (const auto& p : r.published) {
      if (p.container == port) host = p.host + "->";
    }
    out += (out.empty() ? "" : ", ") + host + std::to_string(port) + "/tcp";
  }
  return out;
}

// The fields --format knows, by template name.
std::vector<std::pair<std::string, std::string>> fieldsOf(const sandbox::SandboxStatus& s) {
  return {{"Name", s.record.name},
          {"Agent", s.record.agent},
          {"State", s.state},
          {"Image", s.record.image},
          {"Workspace", s.record.workspace},
          {"Kit", s.record.kit},
          {"Container", s.record.container},
          {"Network", s.record.network},
          {"Created", s.record.created},
          {"Ports", portsText(s.record)}};
}

// Renders `tmpl` for one sandbox; an unknown {{.Field}} or an unclosed {{ is
// an error (text in *error).
std::string renderFormat(const std::string& tmpl, const sandbox::SandboxStatus& s,
                         std::string* error) {
  const auto fields = fieldsOf(s);
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl.compare(i, 2, "\\t") == 0 || tmpl.compare(i, 2, "\\n") == 0) {
      out += tmpl[i + 1] == 't' ? '\t' : '\n';
      i += 2;
      continue;
    }
    if (tmpl.compare(i, 2, "{{") != 0) {
      out += tmpl[i++];
      continue;
    }
    const size_t close = tmpl.find("}}", i + 2);
    if (close == std::string::npos) {
      *error = "--format: unclosed {{ at column " + std::to_string(i + 1);
      return "";
    }
    std::string key = tmpl.substr(i + 2, close - i - 2);
    key.erase(0, key.find_first_not_of(' '));
    key.erase(key.find_last_not_of(' ') + 1);
    bool found = false;
    for (const auto& [name, value] : fields) {
      if (key == "." + name) {
        out += value;
        found = true;
      }
    }
    if (!found) {
      std::string known;
      for (const auto& f : fields) known += (known.empty() ? "" : " ") + ("{{." + f.first + "}}");
      *error = "--format: unknown field {{" + key + "}}; known: " + known;
      return "";
    }
    i = close + 2;
  }
  return out;
}
}  // namespace

int runLsCommand(const Args& args, Io& io) {
  bool json = false, quiet = false;
  std::optional<std::string> format;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (isHelpFlag(a)) {
      io.out << kLsUsage;
      return kExitOk;
    }
    if (a == "--json") {
      json = true;
    } else if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (a == "--format" && i + 1 < args.size()) {
      format = args[++i];
    } else if (a.rfind("--format=", 0) == 0) {
      format = a.substr(9);
    } else if (a == "--format") {
      return usageError(io, kCmd, kLsUsage, "--format needs a TEMPLATE");
    } else {
      return usageError(io, kCmd, kLsUsage, "unexpected argument " + a);
    }
  }
  if (int(json) + int(quiet) + int(format.has_value()) > 1) {
    return usageError(io, kCmd, kLsUsage, "use one of -q, --format and --json");
  }
  if (format) {
    // Checked before anything is listed, so a typo fails even with no sandbox.
    std::string error;
    renderFormat(*format, sandbox::SandboxStatus{}, &error);
    if (!error.empty()) return usageError(io, kCmd, kLsUsage, error);
  }
  auto ctx = openSandboxContext();
  if (!ctx.isOk()) return fail(io, kCmd, ctx.status().message());
  auto list = ctx->manager->list();
  if (!list.isOk()) return fail(io, kCmd, list.status().message());
  if (quiet || format) {
    for (const auto& s : *list) {
      std::string error;
      io.out << (quiet ? s.record.name : renderFormat(*format, s, &error)) << "\n";
    }
    return kExitOk;
  }
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : *list) {
      // The --format fields, keys in lower case.
      nlohmann::json row = nlohmann::json::object();
      for (auto [name, value] : fieldsOf(s)) {
        name[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[0])));
        row[name] = value;
      }
      out.push_back(std::move(row));
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
                    s.record.created, portsText(s.record)});
  }
  printTable(io.out, io.out_color,
             {"NAME", "AGENT", "STATE", "IMAGE", "WORKSPACE", "CREATED", "PORTS"}, rows);
  return kExitOk;
}

}  // namespace kitgate::cli
