// The kitgate command line: a table of subcommands and the dispatcher.
//
// To add a subcommand: write `orchestrator/cli/<name>_command.cc` with a
// `int run<Name>Command(const Args&, Io&)` and list it in commands.cc. Every
// subcommand answers `--help` with usage and examples, prints results on
// `io.out`, problems on `io.err`, uses colour only when that stream is a TTY,
// and returns the process exit code (0 ok, 1 failed, 2 usage error).
// Called from main() on the main thread; owns nothing global.
#pragma once

#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kitgate::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

struct Io {
  std::ostream& out;
  std::ostream& err;
  bool out_color = false;  // out is a TTY (and NO_COLOR unset)
  bool err_color = false;
};

using Args = std::vector<std::string>;  // arguments after the subcommand name

struct Command {
  std::string_view name;
  std::string_view summary;  // one line for `kitgate --help`
  int (*run)(const Args& args, Io& io);
};

// The subcommand table (commands.cc).
std::span<const Command> commands();

// Parses argv, dispatches, returns the exit code. Never throws.
int runCli(int argc, char** argv);
// Same with explicit streams (tests).
int runCli(const std::vector<std::string>& argv, Io& io);

bool isHelpFlag(std::string_view arg);

}  // namespace kitgate::cli
