// `kitgate completion bash|zsh` and `kitgate version`: shell completion
// generated from the subcommand table (commands.cc), so a new subcommand
// completes without editing this file; sandbox names come from
// `kitgate ls -q` at completion time.
#include <ostream>
#include <string>

#include "orchestrator/cli/app.h"
#include "orchestrator/cli/sandbox_cli.h"
#include "orchestrator/cli/state_cli.h"

namespace kitgate::cli {

namespace {

constexpr std::string_view kVersion = KITGATE_VERSION;

constexpr std::string_view kCompletionCmd = "completion";
constexpr std::string_view kCompletionUsage =
    "Usage: kitgate completion bash|zsh\n\n"
    "Prints a completion script for the shell: subcommands, and sandbox names\n"
    "for the commands that take them.\n\n"
    "Examples:\n"
    "  source <(kitgate completion bash)                      # bash, this shell\n"
    "  kitgate completion bash > /etc/bash_completion.d/kitgate\n"
    "  kitgate completion zsh > \"${fpath[1]}/_kitgate\"       # zsh\n";

constexpr std::string_view kVersionUsage =
    "Usage: kitgate version\n\n"
    "Prints kitgate's version.\n\n"
    "Examples:\n"
    "  kitgate version\n";

// Subcommands whose arguments are sandbox names.
constexpr std::string_view kTakesSandbox = "run|start|stop|rm|exec";

std::string commandWords() {
  std::string words;
  for (const Command& c : commands()) words += (words.empty() ? "" : " ") + std::string(c.name);
  return words + " help";
}

std::string bashScript() {
  const std::string words = commandWords();
  return "# kitgate bash completion (kitgate completion bash)\n"
         "_kitgate() {\n"
         "  local cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
         "  if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
         "    COMPREPLY=($(compgen -W \"" +
         words +
         "\" -- \"$cur\"))\n"
         "    return\n"
         "  fi\n"
         "  case \"${COMP_WORDS[1]}\" in\n"
         "    " +
         std::string(kTakesSandbox) +
         ")\n"
         "      COMPREPLY=($(compgen -W \"$(kitgate ls -q 2>/dev/null)\" -- \"$cur\")) ;;\n"
         "    help)\n"
         "      COMPREPLY=($(compgen -W \"" +
         words +
         "\" -- \"$cur\")) ;;\n"
         "    completion)\n"
         "      COMPREPLY=($(compgen -W \"bash zsh\" -- \"$cur\")) ;;\n"
         "  esac\n"
         "}\n"
         "complete -F _kitgate kitgate\n";
}

// 'name:summary' for _describe, quoted for zsh.
std::string zshEntry(std::string_view name, std::string_view summary) {
  std::string out = "'";
  for (char c : std::string(name) + ":" + std::string(summary)) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string zshScript() {
  std::string entries;
  for (const Command& c : commands()) entries += "    " + zshEntry(c.name, c.summary) + "\n";
  entries += "    " + zshEntry("help", "show a command's help") + "\n";
  return "#compdef kitgate\n"
         "# kitgate zsh completion (kitgate completion zsh)\n"
         "_kitgate() {\n"
         "  local -a cmds\n"
         "  cmds=(\n" +
         entries +
         "  )\n"
         "  if (( CURRENT == 2 )); then\n"
         "    _describe 'command' cmds\n"
         "    return\n"
         "  fi\n"
         "  case \"$words[2]\" in\n"
         "    " +
         std::string(kTakesSandbox) +
         ")\n"
         "      compadd -- ${(f)\"$(kitgate ls -q 2>/dev/null)\"} ;;\n"
         "    help)\n"
         "      _describe 'command' cmds ;;\n"
         "    completion)\n"
         "      compadd bash zsh ;;\n"
         "  esac\n"
         "}\n"
         "if [ \"$funcstack[1]\" = \"_kitgate\" ]; then\n"
         "  _kitgate \"$@\"\n"
         "else\n"
         "  compdef _kitgate kitgate\n"
         "fi\n";
}

}  // namespace

int runCompletionCommand(const Args& args, Io& io) {
  if (!args.empty() && isHelpFlag(args[0])) {
    io.out << kCompletionUsage;
    return kExitOk;
  }
  if (args.size() != 1) {
    return usageError(io, kCompletionCmd, kCompletionUsage, "give one shell: bash or zsh");
  }
  if (args[0] == "bash") {
    io.out << bashScript();
  } else if (args[0] == "zsh") {
    io.out << zshScript();
  } else {
    return usageError(io, kCompletionCmd, kCompletionUsage,
                      "unknown shell \"" + args[0] + "\" (bash or zsh)");
  }
  return kExitOk;
}

int runVersionCommand(const Args& args, Io& io) {
  if (!args.empty() && isHelpFlag(args[0])) {
    io.out << kVersionUsage;
    return kExitOk;
  }
  if (!args.empty()) return usageError(io, "version", kVersionUsage, "no arguments expected");
  io.out << "kitgate " << kVersion << "\n";
  return kExitOk;
}

}  // namespace kitgate::cli
