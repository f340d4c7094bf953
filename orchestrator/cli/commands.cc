// The subcommand table: one entry per `kitgate <name>`.
#include "orchestrator/cli/app.h"
#include "orchestrator/cli/kit_command.h"

namespace kitgate::cli {

namespace {
constexpr Command kCommands[] = {
    {"kit", "validate, inspect and pack kits (spec.yaml + files/)", runKitCommand},
};
}  // namespace

std::span<const Command> commands() { return kCommands; }

}  // namespace kitgate::cli
