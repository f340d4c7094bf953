// DockerClient: the orchestrator's seam to a Docker Engine (STYLE rule 4).
// The real one (engine_client.h) speaks the Engine API over the daemon's unix
// socket; tests/support/fake_docker.h is an in-memory fake for unit tests.
//
// Threads: one DockerClient is used by one thread at a time (the real one
// keeps one connection). Callbacks run on the calling thread, before the call
// returns. Errors are values: every failure is a Status whose message says
// what was attempted and includes Docker's own message, e.g.
//   "create container \"amp\": conflict (HTTP 409): Conflict. The container
//    name \"/amp\" is already in use …"
// Lookups return std::nullopt for "no such thing" (HTTP 404), and removals
// treat "already gone" as success, so cleanup code can be idempotent.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/docker/types.h"
#include "proxy/common/status.h"
#include "proxy/common/unique_fd.h"

namespace kitgate::docker {

// A hijacked attach connection: fd is a connected stream socket; reading it
// yields the container's TTY output, writing it feeds the container's stdin.
// `pending` holds output bytes that arrived together with the HTTP upgrade
// answer; consume them before reading fd. Closing fd detaches.
struct AttachStream {
  UniqueFd fd;
  std::string pending;
};

// An interactive exec (execAttach): its id (for resizeExec/execExitCode) and
// the hijacked connection carrying its TTY.
struct ExecSession {
  std::string id;
  AttachStream stream;
};

struct AttachOptions {
  bool stdin = true;
  bool stdout = true;
  bool stderr = true;
  // Keys that detach without stopping the container (Docker syntax,
  // "ctrl-p,ctrl-q"); empty = Docker's default.
  std::string detach_keys;
};

class DockerClient {
 public:
  virtual ~DockerClient() = default;

  // The daemon's versions and the API version this client uses.
  virtual StatusOr<VersionInfo> version() = 0;
  virtual Status ping() = 0;

  // Images. `ref` is "name[:tag]" or an id.
  virtual StatusOr<std::optional<ImageInfo>> inspectImage(const std::string& ref) = 0;
  // Pulls from the image's registry; `progress` (may be empty) sees each
  // status line. A failure reported inside the stream is returned as error.
  // The registry login, if any, comes from the setRegistryAuth function.
  virtual Status pullImage(const std::string& ref, const PullProgressFn& progress) = 0;
  // Where pullImage gets a registry login for an image (X-Registry-Auth);
  // clients that pull nothing from registries ignore it.
  virtual void setRegistryAuth(RegistryAuthFn auth) { (void)auth; }
  // Creates an image from a root filesystem tarball; returns the image id.
  virtual StatusOr<std::string> importImage(const ImportSpec& spec) = 0;
  // Loads a `docker save` tarball (POST /images/load).
  virtual Status loadImage(const std::string& tarball_path) = 0;
  virtual Status removeImage(const std::string& ref, bool force) = 0;

  // Networks.
  virtual StatusOr<NetworkInfo> createNetwork(const NetworkSpec& spec) = 0;  // inspected
  virtual StatusOr<std::optional<NetworkInfo>> inspectNetwork(const std::string& id_or_name) = 0;
  virtual Status removeNetwork(const std::string& id_or_name) = 0;
  virtual StatusOr<std::vector<NetworkInfo>> listNetworks(const LabelFilter& labels) = 0;

  // Volumes.
  virtual StatusOr<VolumeInfo> createVolume(const VolumeSpec& spec) = 0;
  virtual Status removeVolume(const std::string& name, bool force) = 0;
  virtual StatusOr<std::vector<VolumeInfo>> listVolumes(const LabelFilter& labels) = 0;

  // Containers. createContainer returns the new id.
  virtual StatusOr<std::string> createContainer(const ContainerSpec& spec) = 0;
  virtual Status startContainer(const std::string& id) = 0;  // already running: OK
  // SIGTERM, then SIGKILL after `grace`. Already stopped: OK.
  virtual Status stopContainer(const std::string& id, std::chrono::seconds grace) = 0;
  // Blocks until the container is not running; returns its exit code.
  virtual StatusOr<int> waitContainer(const std::string& id) = 0;
  // force: kill a running container first. Also removes its anonymous volumes.
  virtual Status removeContainer(const std::string& id, bool force) = 0;
  virtual StatusOr<std::optional<ContainerInfo>> inspectContainer(const std::string& id) = 0;
  // Running and stopped containers.
  virtual StatusOr<std::vector<ContainerSummary>> listContainers(const LabelFilter& labels) = 0;

  // Runs a command in a running container and collects its output.
  virtual StatusOr<ExecResult> exec(const std::string& container_id, const ExecSpec& spec) = 0;
  // Same, handing output to `on_output` as it arrives (the captured text in
  // the result is still filled, bounded by spec.max_captured_bytes).
  virtual StatusOr<ExecResult> execStreaming(const std::string& container_id, const ExecSpec& spec,
                                             const OutputFn& on_output) = 0;

  // Extracts an uncompressed tar archive (tar.h builds one) into the
  // container's filesystem under `dir`, which must exist. Works on created
  // and on running containers.
  virtual Status putArchive(const std::string& container_id, const std::string& dir,
                            const std::string& tar_bytes) = 0;

  // Attaches to a container's TTY (raw stream, no multiplexing headers when
  // the container was created with tty). Attach before start to see all
  // output.
  virtual StatusOr<AttachStream> attach(const std::string& container_id,
                                        const AttachOptions& options) = 0;
  virtual Status resizeTty(const std::string& container_id, int rows, int cols) = 0;

  // Starts `spec` (normally tty + attach_stdin) in a running container and
  // hands back its stream; resizeExec sizes its TTY; execExitCode, once the
  // stream has closed, is its exit code.
  virtual StatusOr<ExecSession> execAttach(const std::string& container_id,
                                           const ExecSpec& spec) = 0;
  virtual Status resizeExec(const std::string& exec_id, int rows, int cols) = 0;
  virtual StatusOr<int> execExitCode(const std::string& exec_id) = 0;
  // The last `tail_lines` lines the container's main process printed
  // (stdout and stderr merged).
  virtual StatusOr<std::string> containerLogs(const std::string& container_id, int tail_lines) = 0;
};

}  // namespace kitgate::docker
