// Dynamic secrets (kit-spec §5.6, §5.7): a service or custom secret whose
// value comes from `--command 'gh auth token'` or `--ref op://…` instead of
// being typed in, cached and refreshed per `--refresh DURATION|on-demand`.
//
// Who resolves: the kitgate CLI, on the host, as the user who set the secret
// (SUDO_UID/SUDO_GID when kitgate runs through sudo), never the proxy — the
// proxy is the egress boundary and never executes anything a state file
// names, and the helpers (gh, op, aws) hold the user's own sessions. The
// cache is secrets.yaml itself (0600): a resolved value is written there like
// a typed one and the proxy reloads. When: on `secret set`, on every
// `kitgate run`/`start` (due ones and on-demand ones), and on
// `kitgate secret refresh` (all, or `--due` from a timer: see README).
//
// The source records (no values) live in <state>/secret-sources.json (0600):
//   {"sources": [{"kind": "service", "scope": "global", "name": "github",
//                 "command": "gh auth token", "refresh": 3300, "uid": 1000,
//                 "gid": 1000, "fetched_at": …, "expires_at": …,
//                 "state": "ok", "error": ""}]}
//
// A value never reaches argv (commands run as `sh -c TEXT`: the text is
// argv, the value is the command's stdout), a log line or an error message;
// stderr of a failing command is shown only with `--show-error`.
//
// Threads: the CLI's main thread. Time is a parameter (unix seconds): the
// refresh logic is pure and tested with any clock.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/state/state.h"
#include "proxy/common/status.h"

namespace kitgate::state {

struct SecretSource {
  enum class Kind { kService, kCustom };
  Kind kind = Kind::kService;
  std::string scope;  // "global" | "sandbox:<n>"
  std::string name;   // the service, or the custom secret's env variable
  // kCustom: what the secrets.yaml entry needs besides its value (kept here
  // so that an entry dropped at expiry comes back on the next good refresh).
  std::vector<std::string> hosts;
  std::string placeholder;

  std::string command;      // `--command`: run as `sh -c COMMAND`
  std::string ref;          // `--ref`: op://… or arn:aws:secretsmanager:…
  int64_t refresh_s = 0;    // 0 = on-demand (no expiry)
  bool show_error = false;  // failures include the command's stderr
  uid_t uid = 0;            // the user the command runs as
  gid_t gid = 0;

  int64_t fetched_at = 0;  // unix seconds of the last good value
  int64_t expires_at = 0;  // 0 = never
  enum class State { kOk, kFailing, kExpired };
  State state = State::kOk;
  std::string error;  // the last failure (never a value)

  // "command 'gh auth token'" / "ref op://vault/item/field".
  std::string describe() const;
  bool sameSecret(const SecretSource& o) const {
    return kind == o.kind && scope == o.scope && name == o.name;
  }
};

// "on-demand" -> 0; "55m", "1h", "90s", "1h30m", "2d" -> seconds (> 0).
StatusOr<int64_t> parseRefresh(std::string_view text);
// 3300 -> "55m", 0 -> "on-demand".
std::string formatRefresh(int64_t seconds);
// kit-spec §5.4: 55m for service secrets, on-demand for custom ones.
int64_t defaultRefresh(SecretSource::Kind kind);

// What runs: {"sh", "-c", command}; `op://…` -> {"op", "read", ref};
// `arn:aws:secretsmanager:…` -> the AWS CLI's get-secret-value. Any other
// ref is an error naming the two supported forms.
StatusOr<std::vector<std::string>> sourceArgv(const SecretSource& source);

// The user a source runs as: the sudo caller when `uid` is root and
// SUDO_UID/SUDO_GID are set (`sudo_uid`/`sudo_gid`, may be null), else uid/gid.
struct HostUser {
  uid_t uid = 0;
  gid_t gid = 0;
};
HostUser invokingUser(uid_t uid, gid_t gid, const char* sudo_uid, const char* sudo_gid);

// Resolves a source to its value. The real one runs the process; tests fake it.
class SourceRunner {
 public:
  virtual ~SourceRunner() = default;
  // The value (one line, trailing newline removed), or an error that names
  // the source and never contains what it printed on stdout.
  virtual StatusOr<std::string> resolve(const SecretSource& source) const = 0;
};

// Runs sourceArgv() as source.uid/gid (switching user only when kitgate is
// root; a non-root kitgate can only run its own user's sources), stdin
// /dev/null, stdout captured (64 KiB at most), bounded by `timeout_s`.
class ProcessSourceRunner final : public SourceRunner {
 public:
  explicit ProcessSourceRunner(int timeout_s = 60) : timeout_s_(timeout_s) {}
  StatusOr<std::string> resolve(const SecretSource& source) const override;

 private:
  int timeout_s_;
};

// <root>/secret-sources.json; absent = none.
std::string sourcesFile(const Paths& paths);
StatusOr<std::vector<SecretSource>> loadSources(const Paths& paths);
Status saveSources(const Paths& paths, const std::vector<SecretSource>& sources);

// Sets the value of the secrets.yaml entry `key` names (kind, scope, name),
// adding the entry (hosts and placeholder from `key` for a custom one) when
// there is none.
void setSecretValue(Secrets& secrets, const SecretSource& key, std::string value);

// Which sources a refresh pass resolves.
enum class RefreshTrigger {
  kDue,     // those within their refresh margin of expiry (or expired/failing)
  kLaunch,  // kDue + every on-demand source (a sandbox starts: `run`, `start`)
  kAll,     // every source (`secret set`, `secret refresh`)
};

// A duration source is due `min(refresh/5, 5m)` before it expires; an
// on-demand one never by time.
bool refreshDue(const SecretSource& source, int64_t now);

struct RefreshReport {
  bool changed = false;               // secrets or sources changed: save + reload
  std::vector<std::string> resolved;  // "github (global)" — names, never values
  std::vector<std::string> errors;    // one line per failure, never a value
};

// Resolves the sources `trigger` selects (and `only`, when not null, accepts)
// and writes their values into `secrets`. A failure keeps the last good value
// until it expires (state kFailing); once expired the value is removed from
// `secrets` (state kExpired), so the proxy stops injecting it.
RefreshReport refreshSources(std::vector<SecretSource>& sources, Secrets& secrets,
                             const SourceRunner& runner, int64_t now, RefreshTrigger trigger,
                             const SecretSource* only = nullptr);

// After `secret rm`: drops the sources whose secret is gone from `secrets`
// (unless it was removed for having expired) and copies the hosts of custom
// entries (`rm --host` drops one) into their sources.
void syncSources(std::vector<SecretSource>& sources, const Secrets& secrets);

}  // namespace kitgate::state
