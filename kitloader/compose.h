// Kit composition (kit-spec §3.3): one sandbox kit (or a built-in agent, or
// an image) plus mixins in `--kit` order, `extends` resolved, merged by the
// reference's merge table into one canonical Kit that the planner consumes.
//
// Contract
//  * Pure: no I/O, no clock; kits come in already loaded (kit::load) and
//    valid. The built-in agents are kits embedded in the library at build
//    time (kitloader/builtin/<name>/spec.yaml), so an installed binary has
//    them without any file.
//  * Errors are values with sbx's wording where sbx has one:
//    `compose: duplicate kit name "X"`, `agent "X" is already registered
//    (built-in agents cannot be overridden by a kit)`, two sandbox kits, a
//    credential service defined in two shapes, `requires.agent` mismatch,
//    extends depth > 5 / unknown parent / identity-key clash.
//
// Threads: any; nothing shared. Ownership: everything returned is owned.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kitloader/kit.h"

namespace kitgate::kit {

// ---------------------------------------------------------------- built-ins

// Names of the agents kitgate ships as kits, sorted: claude, codex, copilot,
// gemini, opencode, shell.
const std::vector<std::string>& builtinAgentNames();
bool isShippedBuiltin(std::string_view name);
// The built-in's spec.yaml text ("" when `name` is not one).
std::string_view builtinAgentSpec(std::string_view name);
// The built-in loaded into a Kit (a valid sandbox kit), or a load with errors
// when `name` is not a built-in.
LoadResult loadBuiltinAgent(std::string_view name);

// ---------------------------------------------------------------- composing

struct ComposeKit {
  Kit kit;
  std::string ref;  // how the user named it (redacted), for messages and labels
};

// A mixin's agentInstructions.content, written beside the agent file as
// kits-agent-context/<kit>.md and indexed from its `## Kits` section (§3.6).
struct MixinContext {
  std::string kit;
  std::string content;
  bool operator==(const MixinContext&) const = default;
};

struct Composition {
  Kit kit;                                 // the composed sandbox kit (kind sandbox)
  std::string base;                        // the sandbox kit or built-in that supplies the sandbox
  std::vector<std::string> extends_chain;  // base's ancestors, nearest first ("claude")
  std::vector<std::string> mixins;         // mixin names in --kit order
  std::vector<MixinContext> mixin_contexts;  // in --kit order, only mixins with content
  std::vector<std::string> refs;             // base ref first, then each mixin's
};

struct ComposeResult {
  Composition value;
  std::string error;  // "" = ok
  bool ok() const { return error.empty(); }
};

// `kits` in --kit order. `agent` is the positional AGENT: the sandbox kit's
// name (checked when a sandbox kit is given), or for a mixin-only invocation
// a built-in agent name or an image reference (contains '/' or ':'), which
// then runs on the built-in `shell` kit.
ComposeResult compose(const std::vector<ComposeKit>& kits, std::string_view agent);

// `extends` resolved alone (child onto parent chain); used by compose() and
// by `kit inspect` of a single sandbox kit.
ComposeResult resolveExtends(const ComposeKit& kit);

// What kitgate's proxy cannot enforce as written, each "<where>: <why>":
// allow/deny patterns its policy engine refuses, inject rows whose header
// or format it cannot write. `run` refuses a kit with any (validate only
// warns, as sbx does not check them).
std::vector<std::string> runtimeProblems(const Kit& kit);

// Why `kitgate kit add SANDBOX REF` cannot apply `kit` to a running
// sandbox (kit-spec §3.12): a sandbox kit, or a field other than
// environment.variables, setup.install and permissions.network.allow. Each
// message names the field and ends with the way out (rm + run --kit).
std::vector<std::string> kitAddRefusals(const Kit& kit);

// Environment names the runtime owns (proxy variables, SBX_*, DASH_*,
// DOCKER_*, HOME, USER, SHELL, PATH, LD_*): a kit's value never reaches them.
bool isRuntimeOwnedVariable(std::string_view name);

// A kit's NO_PROXY value split into the entries kitgate may merge into its
// own (loopback / local names only) and the ones it drops.
struct NoProxySplit {
  std::vector<std::string> kept;
  std::vector<std::string> dropped;
};
NoProxySplit splitNoProxy(std::string_view value);

}  // namespace kitgate::kit
