// kitloader public API: load a kit (spec.yaml + files/) from a directory, a
// .zip or a git URL into one canonical value, with compiler-style diagnostics.
//
// Contract
//  * `load()` never throws and never aborts on user input. Every problem it
//    finds is returned at once as an ordered list of Diagnostics (errors and
//    warnings, in the order they were found). The kit is usable only when
//    `LoadResult::ok()` (no error diagnostics).
//  * `Kit` is a plain value type in the canonical schemaVersion "2" shape.
//    schemaVersion "1" kits (incl. the 0.32 renames and transitional fields)
//    are folded into it, with one deprecation warning per legacy spelling
//    (exact texts: kit-spec §2.3). Two kits that mean the same thing compare
//    equal with `==`.
//  * Scalars keep their literal source text: `user: 1000` is the string
//    "1000", `version: 1.20` is "1.20".
//  * Hostile input is bounded: spec.yaml size, YAML nesting depth and alias
//    expansion, files/ count and size, zip entry sizes, git run time.
//
// Threads: every function here is safe to call from any thread; nothing is
// shared between calls. `load()` with a git reference runs the `git` program
// (never through a shell) and writes under `LoadOptions::cache_dir`.
// Ownership: everything returned is an owned value.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kitgate::kit {

// ---------------------------------------------------------------- diagnostics

enum class Severity { kError, kWarning };

struct Diagnostic {
  Severity severity = Severity::kError;
  std::string file;  // "spec.yaml", "files/home/x", or the reference itself
  int line = 0;      // 1-based; 0 = no position
  int column = 0;    // 1-based; 0 = no position
  std::string message;

  bool operator==(const Diagnostic&) const = default;
};

// `spec.yaml:14:5: error: message`, then (when `source` holds the file text
// and the diagnostic has a line) the offending line and a caret under the
// column. `color` adds ANSI colours (callers pass true only for a TTY).
std::string renderDiagnostic(const Diagnostic& d, std::string_view source, bool color);

// ---------------------------------------------------------------- the model

// A YAML value kept as data (OAuth credentialFile.structure). Mapping keys
// are sorted, so two structures that differ only in key order are equal.
struct Value {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  std::string scalar;             // kScalar: literal text
  std::vector<std::string> keys;  // kMap: sorted keys, parallel to items
  std::vector<Value> items;       // kSequence items / kMap values

  bool operator==(const Value&) const = default;
};

enum class KitKind { kSandbox, kMixin };

struct Build {
  std::string context;
  std::string dockerfile;
  std::string target;
  std::map<std::string, std::string> args;
  std::vector<std::string> platforms;
  bool operator==(const Build&) const = default;
};

struct Resources {
  std::string cpu;     // literal text, e.g. "2.0"
  std::string memory;  // e.g. "4096m"
  std::string gpu;
  bool operator==(const Resources&) const = default;
};

struct Command {
  std::vector<std::string> default_args;                // non-interactive tail
  std::optional<std::vector<std::string>> interactive;  // nullopt = use default
  bool operator==(const Command&) const = default;
};

struct Sandbox {
  std::string image;
  std::optional<Build> build;
  std::vector<std::string> entrypoint;  // [0] = binary
  std::optional<Command> command;
  std::optional<Resources> resources;
  bool operator==(const Sandbox&) const = default;
};

struct AgentInstructions {
  std::string filename;  // AI profile file (sandbox kits only)
  std::string content;   // markdown
  bool operator==(const AgentInstructions&) const = default;
};

struct Port {
  int container = 0;
  std::string protocol;  // "", "tcp" or "udp"
  std::string name;
  bool operator==(const Port&) const = default;
};

// One header (or Basic username) the proxy writes on requests to `domain`.
// `scheme:` sugar is folded away at load time.
struct Inject {
  std::string domain;
  std::string header;    // empty with a username = Authorization: Basic
  std::string format;    // exactly one %s
  std::string username;  // HTTP Basic user
  bool operator==(const Inject&) const = default;
};

struct ApiKey {
  std::string name;  // env var in the container ("" = none)
  bool proxy_managed = false;
  std::vector<Inject> inject;
  bool operator==(const ApiKey&) const = default;
};

struct OAuth {
  std::string token_host;
  std::string token_path;
  std::vector<std::string> resource_hosts;
  std::string access_sentinel;
  std::string refresh_sentinel;
  std::string credential_file_path;
  std::string credential_file_template;
  std::optional<Value> credential_file_structure;
  std::map<std::string, std::string> response_fields;
  std::vector<std::string> skip_if_env;
  bool passthrough = false;
  bool operator==(const OAuth&) const = default;
};

struct Credential {
  std::string service;
  std::string description;
  bool required = false;
  std::string provider;
  std::optional<ApiKey> api_key;
  std::optional<OAuth> oauth;
  bool operator==(const Credential&) const = default;
};

struct InstallStep {
  std::string command;  // run with sh -c
  std::string user;     // default "0"
  std::string description;
  bool operator==(const InstallStep&) const = default;
};

struct StartupStep {
  std::vector<std::string> command;  // argv, no shell
  std::string user;                  // default "1000"
  bool background = false;
  std::string description;
  bool operator==(const StartupStep&) const = default;
};

struct SetupFile {
  std::string path;  // absolute
  std::string content;
  std::string mode;  // octal text, default "0644"
  bool only_if_missing = false;
  std::string description;
  bool operator==(const SetupFile&) const = default;
};

struct Setup {
  std::vector<InstallStep> install;
  std::vector<StartupStep> startup;
  std::vector<SetupFile> files;
  bool operator==(const Setup&) const = default;
};

struct Volume {
  std::string path;
  std::string type;  // "" (block) or "tmpfs"
  std::string size;
  std::string mode;
  bool operator==(const Volume&) const = default;
};

struct ArgSpec {
  std::optional<std::string> default_value;
  bool required = false;
  std::string description;
  std::vector<std::string> enum_values;
  std::string pattern;
  bool operator==(const ArgSpec&) const = default;
};

enum class FileTarget { kHome, kWorkspace };

// A file under files/home/** or files/workspace/**.
struct KitFile {
  FileTarget target = FileTarget::kHome;
  std::string relative_path;  // below the target, '/'-separated
  uint32_t mode = 0644;
  std::string content;  // after ${{ kit.args.* }} substitution (text files)
  bool operator==(const KitFile&) const = default;
};

struct Kit {
  KitKind kind = KitKind::kSandbox;
  std::string name;
  std::string version;
  std::string display_name;
  std::string description;
  std::string source_url;
  std::vector<std::string> licenses;
  std::vector<std::string> locked;
  bool privileged = false;
  std::map<std::string, ArgSpec> args;
  std::string extends;
  std::vector<std::string> mixins;
  std::string requires_agent;
  std::optional<Sandbox> sandbox;
  AgentInstructions agent_instructions;
  std::vector<std::string> allow;  // permissions.network.allow
  std::vector<std::string> deny;   // permissions.network.deny
  std::vector<Port> ports;
  std::vector<Credential> credentials;
  std::map<std::string, std::string> environment;
  Setup setup;
  std::vector<Volume> volumes;
  std::vector<KitFile> files;  // sorted by (target, relative_path)

  bool operator==(const Kit&) const = default;

  // Sorted env names the container gets set to the sentinel "proxy-managed".
  std::vector<std::string> proxyManagedNames() const;
};

// ---------------------------------------------------------------- loading

enum class RefKind { kDirectory, kZip, kGit, kOci };
std::string_view refKindName(RefKind kind);  // "directory" | "zip" | "git" | "oci"

struct KitArgValue {
  std::string kit;  // "" = applies to every kit that declares `name`
  std::string name;
  std::string value;
};

// Parses one `--kit-arg` value: `name=value` or `kitname.name=value`.
std::optional<KitArgValue> parseKitArg(std::string_view text);

// kit.allowLocalKits / kit.allowedSources (kit-spec §3.2).
struct SourcePolicy {
  bool allow_local = true;                            // directories and ZIPs
  std::vector<std::string> allowed = {"docker.io/"};  // remote prefixes; "*" = all
};

// The refusal message when `policy` does not admit `ref`; "" = admitted.
std::string sourcePolicyProblem(std::string_view ref, const SourcePolicy& policy);

struct KitContent;

struct LoadOptions {
  std::vector<KitArgValue> args;
  // Where git references are cloned. Empty = $XDG_CACHE_HOME/kitgate/git,
  // else $HOME/.cache/kitgate/git.
  std::string cache_dir;
  // Maximum wall time of one git run.
  int git_timeout_seconds = 120;
  // OCI: kitgate's registry logins (`kitgate secret set --registry`; "" =
  // none) and the registries spoken to over plain HTTP when they lack TLS
  // (loopback always is). Docker's config.json is consulted after.
  std::string registry_auth_file;
  std::vector<std::string> insecure_registries;
  // Source policy (kit-spec §3.2); unset = everything admitted.
  std::optional<SourcePolicy> source_policy;
  // kit.requireSignature: called with the content of every kit read from a
  // reference, before it is decoded; a non-empty answer is a diagnostic of
  // `signature_severity` (validate and inspect report it as a warning).
  std::function<std::string(const KitContent&)> check_signature;
  Severity signature_severity = Severity::kError;
};

struct LoadResult {
  Kit kit;
  std::vector<Diagnostic> diagnostics;
  RefKind ref_kind = RefKind::kDirectory;
  std::string spec_file;    // "spec.yaml" or "spec.yml"
  std::string spec_text;    // original bytes of the spec (for rendering)
  std::string spec_schema;  // schemaVersion as written ("1", "2", ...)

  bool ok() const;
  std::vector<std::string> warningMessages() const;
  std::vector<const Diagnostic*> errors() const;
};

// The reference with any `user:password@` removed, for output.
std::string redactReference(std::string_view ref);

// Loads a reference: a directory, a .zip, `git+https://host/repo.git#ref=R&dir=D`
// or `git+file:///path/repo#...`.
LoadResult load(std::string_view ref, const LoadOptions& options = {});

// Loads spec.yaml bytes alone (no files/), as if read from a directory.
// Used by the fuzzer and by tests.
LoadResult loadSpecBytes(std::string_view bytes, const LoadOptions& options = {});

// ---------------------------------------------------------------- packing

// Writes a reproducible ZIP of the kit in `dir` (spec.yaml + files/home/** +
// files/workspace/**; sorted entries, fixed timestamps, no owner names) to
// `out_path` after loading it. Returns the load result; when it has errors
// nothing is written. `write_error` is set when writing failed.
LoadResult pack(std::string_view dir, std::string_view out_path, const LoadOptions& options,
                std::string* write_error);

// ---------------------------------------------------------------- signatures

// What a kit signature covers (kit-spec §6.2: spec.yaml and files/, not the
// image): the kit content digest, "sha256:" + hex SHA-256 of this text —
//   kitgate-kit-content-v1\n
//   spec sha256:<hex of the spec bytes>\n
//   then one line per files/home|workspace file, sorted by path bytes:
//   <644|755> sha256:<hex of the content> <byte length of path> <path>\n
// where path is home/<rel> or workspace/<rel> and 755 = any execute bit.
// A directory, its `kit pack` ZIP and its pushed v1 or v2 artifact have the
// same content digest, so one signature serves every form of the kit.
inline constexpr std::string_view kSignatureBundleName = "kit.sig.bundle";

struct KitContent {
  RefKind kind = RefKind::kDirectory;
  std::string reference;       // as given, user:password@ removed
  std::string content_digest;  // sha256:...
  // Directory and git: the kit directory and its kit.sig.bundle, if any.
  std::string directory;
  std::optional<std::string> bundle;
  // OCI: the kit manifest (the subject of its signature referrers).
  std::string oci_reference;  // registry/repository:tag or @digest, as parsed
  std::string manifest_digest;
  std::string manifest_media_type;
  size_t manifest_size = 0;
};

// Reads the kit `ref` names (no decoding, no source policy, no signature
// check) and fills `out`. false + `error` when it cannot be read.
bool readKitContent(std::string_view ref, const LoadOptions& options, KitContent* out,
                    std::string* error);

// ---------------------------------------------------------------- OCI

// True when `ref` names an OCI artifact rather than a path, ZIP or git URL.
bool isOciReference(std::string_view ref);

// `kit push DIR REGISTRY/REPO:TAG`: validates the kit and pushes it in the
// kit-spec §6 format its schemaVersion calls for (v1: the `kit pack` ZIP as
// the one layer; v2: spec.yaml as the config blob, files/ as a reproducible
// tar+gzip layer), annotations included.
struct PushResult {
  LoadResult load;
  std::string error;            // "" = pushed
  std::string format;           // "v1" | "v2"
  std::string reference;        // canonical registry/repo:tag
  std::string manifest_digest;  // sha256:...
};
PushResult push(std::string_view dir, std::string_view target, const LoadOptions& options);

// `kit pull REF`: the raw layer payload (.zip for v1, .tar.gz for v2),
// manifest and layer digests verified; nothing composed.
struct PullResult {
  std::string error;
  std::string format;     // "v1" | "v2"
  std::string extension;  // ".zip" | ".tar.gz"
  std::string payload;
  std::string manifest_digest;
  std::string repository;  // last path component, for a default file name
};
PullResult pull(std::string_view ref, const LoadOptions& options);

// The reproducible v2 layer (kit-spec §6.3) of a kit directory's files/.
// Exposed for tests (a pull must return exactly these bytes).
std::string buildV2Layer(const std::vector<KitFile>& files);

}  // namespace kitgate::kit
