// Helpers shared by the state-directory subcommands (`kitgate secret`,
// `kitgate policy`, `kitgate proxy`): flag parsing, aligned tables, prompts,
// opening the state directory.
//
// Main thread only (reads stdin, writes the Io streams). Owns nothing global.
#pragma once

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/cli/app.h"
#include "orchestrator/state/state.h"
#include "orchestrator/stateops/service.h"

namespace kitgate::cli {

// Walks a subcommand's arguments. Flags take their value as `--flag V` or
// `--flag=V`; everything not starting with '-' is positional.
class ArgCursor {
 public:
  explicit ArgCursor(const Args& args, size_t start = 0) : args_(args), i_(start) {}
  bool done() const { return i_ >= args_.size(); }
  const std::string& peek() const { return args_[i_]; }
  // True (and consumed) when the current argument is one of `names`.
  bool flag(std::initializer_list<std::string_view> names);
  // When the current argument is one of `names`: its value in *value (an
  // error in *error when the value is missing); true when it matched.
  bool option(std::initializer_list<std::string_view> names, std::string* value,
              std::string* error);
  std::string next() { return args_[i_++]; }

 private:
  const Args& args_;
  size_t i_;
};

// Left-aligned columns separated by two spaces; the header is bold on a TTY.
void printTable(std::ostream& out, bool color, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

// Prints `kitgate <cmd>: <message>` + the usage; returns kExitUsage.
int usageError(Io& io, std::string_view cmd, std::string_view usage, const std::string& message);
// Prints `kitgate <cmd>: error: <message>`; returns kExitFailed.
int fail(Io& io, std::string_view cmd, const std::string& message);

// The state directory: ensures it exists (0700).
StatusOr<state::Paths> openState();

// Where `kitgate secret` and `kitgate policy` read and write. Root: the
// state directory (openState()). Not root: the root kitgate daemon's, through
// its socket, when it serves one (the same rule as `kitgate proxy`); without
// a daemon, $KITGATE_STATE_DIR when set (a proxy of one's own), else the
// error that says to start the daemon or use sudo.
StatusOr<std::unique_ptr<stateops::StateService>> openStateService();

// Appends the comma-separated items of `text` (trimmed, empty ones dropped).
void splitList(std::string_view text, std::vector<std::string>* out);

bool stdinIsTerminal();
// Asks `question (y/N) ` on the terminal; true for y/yes.
bool confirm(Io& io, std::string_view question);

}  // namespace kitgate::cli
