// EngineClient: the real DockerClient, speaking the Docker Engine API over
// the daemon's unix socket (libcurl). connectDocker() finds the socket,
// checks the daemon answers and negotiates the API version; every request
// then goes to /v<negotiated>/….
//
// Threads: one EngineClient per thread at a time (it owns one connection).
// The caller owns the returned client.
#pragma once

#include <memory>
#include <string>

#include "orchestrator/docker/docker_client.h"
#include "orchestrator/docker/unix_http.h"

namespace kitgate::docker {

inline constexpr std::string_view kDefaultDockerSocket = "/var/run/docker.sock";

// The socket to use: DOCKER_HOST=unix:///path when set, else the default.
// Any other DOCKER_HOST scheme (tcp://, ssh://) and a DOCKER_CONTEXT other
// than "default" are refused with a message that names which: kitgate
// drives a local daemon only.
StatusOr<std::string> dockerSocketFromEnvironment();

// Connects to the daemon at `socket_path` and negotiates the API version.
// Fails with "cannot reach the Docker daemon at unix://…: … Is dockerd
// running?" when nothing answers there.
StatusOr<std::unique_ptr<DockerClient>> connectDocker(const std::string& socket_path);
// The same for dockerSocketFromEnvironment().
StatusOr<std::unique_ptr<DockerClient>> connectDocker();

class EngineClient final : public DockerClient {
 public:
  // Use connectDocker(); this assumes `version` is already negotiated.
  EngineClient(std::string socket_path, VersionInfo version);

  StatusOr<VersionInfo> version() override;
  Status ping() override;

  StatusOr<std::optional<ImageInfo>> inspectImage(const std::string& ref) override;
  Status pullImage(const std::string& ref, const PullProgressFn& progress) override;
  void setRegistryAuth(RegistryAuthFn auth) override { registry_auth_ = std::move(auth); }
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
  // POST /containers/{id}/exec; the exec id.
  StatusOr<std::string> createExec(const std::string& container_id, const ExecSpec& spec);
  // "/v1.41" + path
  std::string versioned(std::string_view path) const;
  StatusOr<HttpResponse> call(std::string method, std::string path, std::string body = "",
                              std::chrono::seconds timeout = std::chrono::seconds(60));
  // DELETE path; "already gone" (404) counts as done.
  Status removeUnlessGone(std::string_view what, std::string path);
  // GET path parsed by `parse`; 404 is std::nullopt.
  template <typename T, typename Parse>
  StatusOr<std::optional<T>> inspectUnlessGone(std::string_view what, std::string path,
                                               Parse parse);
  // Sends and expects a 2xx (or `also_ok`) status; else the mapped error.
  Status expectOk(std::string_view what, const StatusOr<HttpResponse>& response, long also_ok = 0);

  UnixHttp http_;
  VersionInfo version_;
  RegistryAuthFn registry_auth_;
};

}  // namespace kitgate::docker
