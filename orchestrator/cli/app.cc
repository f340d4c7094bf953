#include "orchestrator/cli/app.h"

#include <unistd.h>

#include <exception>
#include <iostream>

#include "orchestrator/cli/terminal.h"
#include "orchestrator/sandbox/port_forward.h"

namespace kitgate::cli {

bool isHelpFlag(std::string_view arg) { return arg == "--help" || arg == "-h" || arg == "help"; }

namespace {

void printUsage(std::ostream& out) {
  out << "kitgate: run AI coding agents in containers whose only way out is an egress proxy you "
         "control.\n\n"
         "Usage: kitgate <command> [arguments]\n\nCommands:\n";
  for (const Command& c : commands()) {
    out << "  " << c.name << std::string(c.name.size() < 10 ? 10 - c.name.size() : 1, ' ')
        << c.summary << "\n";
  }
  out << "\nExamples:\n"
         "  kitgate kit validate ./configs/kits/amp/\n"
         "  kitgate kit inspect ./amp.zip --json\n\n"
         "Run 'kitgate help <command>' (or 'kitgate <command> --help') for a command's "
         "options.\n";
}

}  // namespace

int runCli(const std::vector<std::string>& argv, Io& io) {
  if (argv.size() < 2) {
    printUsage(io.err);
    return kExitUsage;
  }
  std::string name = argv[1];
  std::vector<std::string> rest(argv.begin() + 2, argv.end());
  if (name == "help" && !rest.empty()) {
    // `kitgate help CMD [SUB]` = `kitgate CMD [SUB] --help`.
    name = rest.front();
    rest.erase(rest.begin());
    rest.push_back("--help");
    bool known = false;
    for (const Command& c : commands()) known = known || c.name == name;
    if (!known) {
      io.err << "kitgate help: unknown command '" << name << "'\n\n";
      printUsage(io.err);
      return kExitUsage;
    }
  } else if (isHelpFlag(name)) {
    printUsage(io.out);
    return kExitOk;
  }
  if (name == "--version") name = "version";
  // Not a user command: the port forwarder kitgate starts for a sandbox.
  if (name == "__forward") return sandbox::runForwarder(rest);
  for (const Command& c : commands()) {
    if (c.name == name) {
      const Args& args = rest;
      try {
        return c.run(args, io);
      } catch (const std::exception& e) {
        io.err << "kitgate " << name << ": internal error: " << e.what() << "\n";
        return kExitFailed;
      }
    }
  }
  io.err << "kitgate: unknown command '" << name << "'\n\n";
  printUsage(io.err);
  return kExitUsage;
}

int runCli(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  Io io{std::cout, std::cerr, colorEnabled(STDOUT_FILENO), colorEnabled(STDERR_FILENO)};
  int rc = runCli(args, io);
  std::cout.flush();
  return rc;
}

}  // namespace kitgate::cli
