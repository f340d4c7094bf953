// FakeDockerClient: an in-memory DockerClient for unit tests of code that
// drives Docker (the orchestrator's run/rm/ls/exec). It keeps images,
// networks, volumes and containers as plain maps, enforces the daemon's
// rules that matter to callers (unknown image -> 404, name taken -> 409,
// exec needs a running container, removing a running container needs
// force), answers exec through a programmable handler, records every call,
// and can be told to fail the next call of a given method.
//
// Error texts mimic EngineClient's ("create container \"x\": conflict (HTTP
// 409): …"). Single-threaded, like the real client. Tests own it.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "orchestrator/docker/docker_client.h"

namespace kitgate::docker::testing {

class FakeDockerClient final : public DockerClient {
 public:
  struct Archive {
    std::string dir;
    std::string tar_bytes;
  };
  struct Container {
    ContainerSpec spec;
    ContainerInfo info;
    std::vector<Archive> archives;  // in putArchive order
    std::vector<ExecSpec> execs;    // in exec order
    int exit_code_on_stop = 0;
    int tty_rows = 0;
    int tty_cols = 0;
    UniqueFd attach_peer;  // the daemon's end of the last attach
    std::string logs;      // what containerLogs returns (tail applied)
  };
  // One execAttach: the daemon's end of its stream, its TTY size, and the
  // exit code the exec handler gave it.
  struct Session {
    std::string container_id;
    ExecSpec spec;
    UniqueFd peer;
    int rows = 0;
    int cols = 0;
  };
  // Answers exec: gets the container and the spec, returns what it "printed".
  using ExecHandler = std::function<ExecResult(const Container&, const ExecSpec&)>;

  FakeDockerClient();

  // --- test setup ---------------------------------------------------------
  void addImage(const std::string& ref, ImageInfo info = {});
  // pullImage(ref) succeeds (reporting `layers` progress lines) only for these.
  void allowPull(const std::string& ref, ImageInfo info = {}, int layers = 2);
  void setExecHandler(ExecHandler handler) { exec_handler_ = std::move(handler); }
  // The next call of `method` ("createContainer", "startContainer", …)
  // returns `error` and changes nothing.
  void failNext(const std::string& method, std::string error);
  // What every later execAttach's command prints before it ends (the
  // stream then closes); empty = it prints nothing and waits for the peer.
  void setExecAttachOutput(std::string output) { exec_attach_output_ = std::move(output); }
  // The container's main process exits now with `code`, having printed `logs`.
  void exitContainer(const std::string& id_or_name, int code, std::string logs);
  // Makes the daemon unreachable: every call fails as EngineClient would.
  void setUnreachable(bool unreachable) { unreachable_ = unreachable; }

  // --- inspection ---------------------------------------------------------
  // "method arg" per call, in order: "createNetwork kitgate-amp".
  const std::vector<std::string>& calls() const { return calls_; }
  const std::map<std::string, Container>& containers() const { return containers_; }
  const std::map<std::string, NetworkInfo>& networks() const { return networks_; }
  const std::map<std::string, VolumeInfo>& volumes() const { return volumes_; }
  const std::map<std::string, ImageInfo>& images() const { return images_; }
  std::map<std::string, Session>& sessions() { return sessions_; }
  // Container by id or name, or nullptr.
  Container* findContainer(const std::string& id_or_name);
  // True when no container, network or volume carries `label` ("k=v" or "k").
  bool nothingLabelled(const std::string& label) const;

  // --- DockerClient -------------------------------------------------------
  StatusOr<VersionInfo> version() override;
  Status ping() override;
  StatusOr<std::optional<ImageInfo>> inspectImage(const std::string& ref) override;
  Status pullImage(const std::string& ref, const PullProgressFn& progress) override;
  StatusOr<std::string> importImage(const ImportSpec& spec) override;
  Status loadImage(const std::string& tarball_path) override;
  Status removeImage(const std::string& ref, bool force) override;
  StatusOr<NetworkInfo> createNetwork(const NetworkSpec& spec) override;
  StatusOr<std::optional<NetworkInfo>> inspectNetwork(const std::string& id_or_name) override;
  Status removeNetwork(const std::string& id_or_name) override;
  StatusOr<std::vector<NetworkInfo>> listNetworks(const LabelFilter& labels) override;
  StatusOr<VolumeInfo> createVolume(const VolumeSpec& spec) override;
  Status removeVolume(const std::string& name, bool force) override;
  StatusOr<std::vector<VolumeInfo>> listVolumes(const LabelFilter& labels) override;
  StatusOr<std::string> createContainer(const ContainerSpec& spec) override;
  Status startContainer(const std::string& id) override;
  Status stopContainer(const std::string& id, std::chrono::seconds grace) override;
  StatusOr<int> waitContainer(const std::string& id) override;
  Status removeContainer(const std::string& id, bool force) override;
  StatusOr<std::optional<ContainerInfo>> inspectContainer(const std::string& id) override;
  StatusOr<std::vector<ContainerSummary>> listContainers(const LabelFilter& labels) override;
  StatusOr<ExecResult> exec(const std::string& container_id, const ExecSpec& spec) override;
  StatusOr<ExecResult> execStreaming(const std::string& container_id, const ExecSpec& spec,
                                     const OutputFn& on_output) override;
  Status putArchive(const std::string& container_id, const std::string& dir,
                    const std::string& tar_bytes) override;
  StatusOr<AttachStream> attach(const std::string& container_id,
                                const AttachOptions& options) override;
  Status resizeTty(const std::string& container_id, int rows, int cols) override;
  StatusOr<ExecSession> execAttach(const std::string& container_id, const ExecSpec& spec) override;
  Status resizeExec(const std::string& exec_id, int rows, int cols) override;
  StatusOr<int> execExitCode(const std::string& exec_id) override;
  StatusOr<std::string> containerLogs(const std::string& container_id, int tail_lines) override;

 private:
  // Records the call; returns the injected or "unreachable" failure, if any.
  Status enter(const std::string& method, const std::string& arg);
  std::string nextId(const char* prefix);
  // The checks and records of an exec start: the running container.
  StatusOr<Container*> startExec(const std::string& method, const std::string& container_id,
                                 const ExecSpec& spec);
  NetworkInfo* findNetwork(const std::string& id_or_name);

  std::map<std::string, ImageInfo> images_;  // by "name:tag"
  std::map<std::string, std::pair<ImageInfo, int>> pullable_;
  std::map<std::string, NetworkInfo> networks_;  // by id
  std::map<std::string, VolumeInfo> volumes_;    // by name
  std::map<std::string, Container> containers_;  // by id
  std::map<std::string, std::string> failures_;
  std::map<std::string, Session> sessions_;  // by exec id
  std::string exec_attach_output_;
  std::vector<std::string> calls_;
  ExecHandler exec_handler_;
  bool unreachable_ = false;
  int next_id_ = 1;
  int next_subnet_ = 0;
};

}  // namespace kitgate::docker::testing
