// Plain value types exchanged with the Docker Engine: what to create
// (specs) and what the daemon reports back (infos). No behaviour, no I/O;
// copyable, usable from any thread. Field names follow the Engine API's
// meaning, in kitgate's spelling.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kitgate::docker {

using Labels = std::map<std::string, std::string>;

// Result of GET /version plus the API version this client settled on.
struct VersionInfo {
  std::string engine_version;          // "20.10.24+dfsg1"
  std::string server_api_version;      // newest the daemon speaks, "1.41"
  std::string min_api_version;         // oldest the daemon speaks, "1.12"
  std::string negotiated_api_version;  // what requests use: "/v1.41/…"
  std::string os;
  std::string arch;
};

struct ImageInfo {
  std::string id;  // "sha256:…"
  std::vector<std::string> repo_tags;
  Labels labels;
  std::string user;         // Config.User
  std::string working_dir;  // Config.WorkingDir
  std::vector<std::string> env;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  int64_t size_bytes = 0;
};

// One line of a pull's progress stream. Layer lines carry layer_id; byte
// counts are present only while a layer downloads or extracts.
struct PullProgress {
  std::string layer_id;
  std::string status;  // "Pulling fs layer", "Downloading", "Pull complete", …
  int64_t current_bytes = 0;
  int64_t total_bytes = 0;
};
using PullProgressFn = std::function<void(const PullProgress&)>;

// The X-Registry-Auth value (base64url JSON {username, password,
// serveraddress} or {identitytoken}) for pulling `image`; "" = anonymous.
// A secret: never logged, never in an error.
using RegistryAuthFn = std::function<std::string(const std::string& image)>;

// POST /images/create?fromSrc=- : a root filesystem tarball becomes an image.
struct ImportSpec {
  std::string tarball_path;  // a plain (uncompressed or gzip) tar on disk
  std::string repository;    // "kitgate-test-agent"
  std::string tag = "latest";
  // Dockerfile instructions applied on import: "LABEL a=b", "CMD [\"sh\"]".
  std::vector<std::string> changes;
};

struct IpamConfig {
  std::string subnet;   // "172.30.0.0/24"; empty = let Docker choose
  std::string gateway;  // "172.30.0.1";   empty = let Docker choose
};

struct NetworkSpec {
  std::string name;
  bool internal = true;  // no route out of the network
  std::string driver = "bridge";
  Labels labels;
  std::optional<IpamConfig> ipam;              // unset = Docker picks subnet and gateway
  std::map<std::string, std::string> options;  // driver options
};

struct NetworkInfo {
  std::string id;
  std::string name;
  std::string driver;
  bool internal = false;
  std::string subnet;   // first IPAM config entry, as Docker reports it
  std::string gateway;  // idem
  Labels labels;
  std::vector<std::string> container_ids;  // attached containers
};

struct VolumeSpec {
  std::string name;  // empty = Docker generates one
  Labels labels;
  std::string driver = "local";
};

struct VolumeInfo {
  std::string name;
  std::string driver;
  std::string mountpoint;
  Labels labels;
};

enum class MountType { kBind, kVolume, kTmpfs };

struct Mount {
  MountType type = MountType::kBind;
  std::string source;  // host path (bind) or volume name (volume); unused for tmpfs
  std::string target;  // absolute path in the container
  bool read_only = false;
};

struct ContainerSpec {
  std::string name;  // empty = Docker generates one
  std::string image;
  std::vector<std::string> env;  // "NAME=value"
  std::string user;              // "1000", "agent", "1000:1000"; empty = image's
  std::string working_dir;       // empty = image's
  std::string hostname;
  Labels labels;
  // Unset = the image's; set to an empty list = explicitly none.
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  bool tty = false;
  bool open_stdin = false;  // keep stdin open for a later attach
  std::vector<Mount> mounts;
  std::string network;  // network name or id; empty = Docker's default bridge
  std::vector<std::string> network_aliases;
  std::vector<std::string> extra_hosts;  // "name:ip"
  bool init = false;                     // run docker-init as PID 1
  // OCI runtime the daemon knows by this name ("runc", "runsc"); empty = the daemon's default.
  std::string runtime;
  bool privileged = false;  // HostConfig.Privileged: every capability and device
  // HostConfig.Dns: where Docker's embedded resolver (127.0.0.11) forwards
  // names it does not know itself; empty = the host's resolv.conf servers.
  std::vector<std::string> dns;
};

struct ContainerState {
  std::string status;  // "created", "running", "exited", …
  bool running = false;
  int exit_code = 0;
  int pid = 0;
};

struct ContainerInfo {
  std::string id;
  std::string name;   // without the leading '/'
  std::string image;  // the image reference it was created from
  std::string image_id;
  ContainerState state;
  Labels labels;
  std::vector<std::string> env;
  std::string user;
  bool tty = false;
  std::map<std::string, std::string> network_ips;  // network name -> IPv4
};

// One row of GET /containers/json.
struct ContainerSummary {
  std::string id;
  std::string name;  // without the leading '/'
  std::string image;
  std::string state;  // "created", "running", "exited", …
  Labels labels;
};

struct ExecSpec {
  std::vector<std::string> cmd;  // argv; wrap in {"sh", "-c", …} for a shell line
  std::vector<std::string> env;  // "NAME=value", added to the container's
  std::string user;              // empty = the container's
  std::string working_dir;       // empty = the container's
  bool tty = false;              // one merged raw stream (reported as stdout)
  bool attach_stdin = false;     // execAttach: the caller's input reaches the command
  // Collected output keeps at most this many trailing bytes per stream.
  size_t max_captured_bytes = size_t{1} << 20;
};

enum class OutputStream { kStdout, kStderr };
// Called with each piece of output as it arrives, in order.
using OutputFn = std::function<void(OutputStream, std::string_view)>;

struct ExecResult {
  int exit_code = -1;
  std::string stdout_text;  // the tail, when more than max_captured_bytes came
  std::string stderr_text;
  bool truncated = false;
};

// Label filter for list calls: "key" (present) or "key=value" entries, ANDed.
using LabelFilter = std::vector<std::string>;

}  // namespace kitgate::docker
