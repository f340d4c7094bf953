#include "orchestrator/cli/app.h"

#include <unistd.h>

#include <exception>
#include <iostream>

#include "orchestrator/cli/terminal.h"

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
         "Run 'kitgate <command> --help' for a command's options.\n";
}

}  // namespace

int runCli(const std::vector<std::string>& argv, Io& io) {
  if (argv.size() < 2) {
    printUsage(io.err);
    return kExitUsage;
  }
  const std::string& name = argv[1];
  if (isHelpFlag(name)) {
    printUsage(io.out);
    return kExitOk;
  }
  if (name == "--version") {
    io.out << "kitgate 0.1.0\n";
    return kExitOk;
  }
  for (const Command& c : commands()) {
    if (c.name == name) {
      Args args(argv.begin() + 2, argv.end());
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
