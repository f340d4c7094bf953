#include "orchestrator/docker/engine_client.h"

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <utility>

#include "orchestrator/docker/api.h"
#include "orchestrator/docker/stream_demux.h"

namespace kitgate::docker {
namespace {

constexpr std::chrono::seconds kNoTimeout{0};
constexpr std::string_view kJson = "application/json";
constexpr std::string_view kTar = "application/x-tar";

bool is2xx(long status) { return status >= 200 && status < 300; }

// Image references keep their '/', ':' and '@' in the path (Docker's router
// takes the rest of the path as the name).
std::string imagePath(std::string_view ref) {
  std::string out;
  for (char c : ref) {
    if (c == '/' || c == ':' || c == '@') {
      out.push_back(c);
    } else {
      out += api::percentEncode(std::string_view(&c, 1));
    }
  }
  return out;
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// path + the label filter query, joined with '?' or '&'.
std::string withLabelFilter(std::string path, const LabelFilter& labels) {
  const std::string q = api::labelFilterQuery(labels);
  if (q.empty()) return path;
  return path + (path.find('?') == std::string::npos ? "?" : "&") + q;
}

StatusOr<std::unique_ptr<DockerClient>> negotiate(const std::string& socket_path) {
  UnixHttp http(socket_path);
  HttpRequest request;
  request.target = "/version";  // unversioned: answers with every API version
  request.timeout = std::chrono::seconds(30);
  auto response = http.send(request);
  if (!response.isOk()) return response.status();
  if (!is2xx(response->status)) {
    return api::errorFromResponse("docker version", response->status, response->body);
  }
  auto version = api::parseVersion(response->body);
  if (!version.isOk()) return version.status();
  return std::unique_ptr<DockerClient>(new EngineClient(socket_path, std::move(*version)));
}

}  // namespace

StatusOr<std::string> dockerSocketFromEnvironment() {
  constexpr std::string_view kDriven =
      "kitgate drives only a local daemon over its unix socket (DOCKER_HOST=unix:///path, "
      "default unix:///var/run/docker.sock)";
  const char* context = std::getenv("DOCKER_CONTEXT");
  if (context != nullptr && *context != '\0' && std::string_view(context) != "default") {
    return Status::error("DOCKER_CONTEXT=" + std::string(context) +
                         " is refused: kitgate does not read docker contexts; " +
                         std::string(kDriven) + ". Unset DOCKER_CONTEXT");
  }
  const char* host = std::getenv("DOCKER_HOST");
  if (host == nullptr || *host == '\0') return std::string(kDefaultDockerSocket);
  std::string_view h(host);
  constexpr std::string_view kUnix = "unix://";
  if (h.substr(0, kUnix.size()) != kUnix || h.size() == kUnix.size()) {
    const size_t scheme = h.find("://");
    const std::string kind = scheme == std::string_view::npos
                                 ? "an address without a scheme"
                                 : "a " + std::string(h.substr(0, scheme)) + " daemon";
    return Status::error("DOCKER_HOST=" + std::string(h) + " (" + kind +
                         ") is refused: " + std::string(kDriven));
  }
  return std::string(h.substr(kUnix.size()));
}

StatusOr<std::unique_ptr<DockerClient>> connectDocker(const std::string& socket_path) {
  return negotiate(socket_path);
}

StatusOr<std::unique_ptr<DockerClient>> connectDocker() {
  auto socket_path = dockerSocketFromEnvironment();
  if (!socket_path.isOk()) return socket_path.status();
  return negotiate(*socket_path);
}

EngineClient::EngineClient(std::string socket_path, VersionInfo version)
    : http_(std::move(socket_path)), version_(std::move(version)) {}

std::string EngineClient::versioned(std::string_view path) const {
  return "/v" + version_.negotiated_api_version + std::string(path);
}

StatusOr<HttpResponse> EngineClient::call(std::string method, std::string path, std::string body,
                                          std::chrono::seconds timeout) {
  HttpRequest request;
  request.method = std::move(method);
  request.target = versioned(path);
  if (!body.empty()) request.content_type = kJson;
  request.body = std::move(body);
  request.timeout = timeout;
  return http_.send(request);
}

Status EngineClient::removeUnlessGone(std::string_view what, std::string path) {
  auto r = call("DELETE", std::move(path));
  if (r.isOk() && r->status == 404) return Status::ok();
  return expectOk(what, r);
}

template <typename T, typename Parse>
StatusOr<std::optional<T>> EngineClient::inspectUnlessGone(std::string_view what, std::string path,
                                                           Parse parse) {
  auto r = call("GET", std::move(path));
  if (r.isOk() && r->status == 404) return std::optional<T>();
  if (Status s = expectOk(what, r); !s.isOk()) return s;
  StatusOr<T> info = parse(r->body);
  if (!info.isOk()) return info.status();
  return std::optional<T>(std::move(*info));
}

Status EngineClient::expectOk(std::string_view what, const StatusOr<HttpResponse>& response,
                              long also_ok) {
  if (!response.isOk()) return response.status();
  if (is2xx(response->status) || (also_ok != 0 && response->status == also_ok)) return Status::ok();
  return api::errorFromResponse(what, response->status, response->body);
}

StatusOr<VersionInfo> EngineClient::version() { return version_; }

Status EngineClient::ping() { return expectOk("docker ping", call("GET", "/_ping")); }

// ---- images ---------------------------------------------------------------

StatusOr<std::optional<ImageInfo>> EngineClient::inspectImage(const std::string& ref) {
  return inspectUnlessGone<ImageInfo>("inspect image " + quoted(ref),
                                      "/images/" + imagePath(ref) + "/json",
                                      api::parseImageInspect);
}

Status EngineClient::pullImage(const std::string& ref, const PullProgressFn& progress) {
  const std::string what = "pull image " + quoted(ref);
  api::ProgressStream stream(what, progress);
  HttpRequest request;
  request.method = "POST";
  request.target = versioned("/images/create?" + api::pullQuery(ref));
  std::string auth = registry_auth_ ? registry_auth_(ref) : "";
  if (!auth.empty()) request.headers.push_back("X-Registry-Auth: " + auth);
  auto r = http_.send(request, [&](std::string_view chunk) {
    stream.feed(chunk);
    return true;
  });
  for (std::string& h : request.headers) std::fill(h.begin(), h.end(), '\0');
  std::fill(auth.begin(), auth.end(), '\0');
  Status s = expectOk(what, r);
  if (s.isOk()) s = stream.finish();
  if (s.isOk() || !api::isRegistryAuthError(s.message())) return s;
  return Status::error(s.message() + (auth.empty() ? "; the registry needs a login: run 'kitgate "
                                                     "secret set --registry HOST' or 'docker "
                                                     "login HOST'"
                                                   : "; the registry refused the login kitgate "
                                                     "sent (kitgate secret set --registry, then "
                                                     "Docker's config.json)"));
}

StatusOr<std::string> EngineClient::importImage(const ImportSpec& spec) {
  const std::string what = "import image " + quoted(spec.repository + ":" + spec.tag);
  api::ProgressStream stream(what, nullptr);
  HttpRequest request;
  request.method = "POST";
  request.target = versioned("/images/create?" + api::importQuery(spec));
  request.content_type = kTar;
  request.body_file = spec.tarball_path;
  auto r = http_.send(request, [&](std::string_view chunk) {
    stream.feed(chunk);
    return true;
  });
  if (Status s = expectOk(what, r); !s.isOk()) return s;
  if (Status s = stream.finish(); !s.isOk()) return s;
  if (stream.lastStatus().empty())
    return Status::error(what + ": the daemon did not report an image id");
  return stream.lastStatus();
}

Status EngineClient::loadImage(const std::string& tarball_path) {
  const std::string what = "load image archive " + tarball_path;
  api::ProgressStream stream(what, nullptr);
  HttpRequest request;
  request.method = "POST";
  request.target = versioned("/images/load?quiet=1");
  request.content_type = kTar;
  request.body_file = tarball_path;
  auto r = http_.send(request, [&](std::string_view chunk) {
    stream.feed(chunk);
    return true;
  });
  if (Status s = expectOk(what, r); !s.isOk()) return s;
  return stream.finish();
}

Status EngineClient::removeImage(const std::string& ref, bool force) {
  return removeUnlessGone("remove image " + quoted(ref),
                          "/images/" + imagePath(ref) + (force ? "?force=1" : ""));
}

// ---- networks -------------------------------------------------------------

StatusOr<NetworkInfo> EngineClient::createNetwork(const NetworkSpec& spec) {
  const std::string what = "create network " + quoted(spec.name);
  auto r = call("POST", "/networks/create", api::networkCreateBody(spec));
  if (Status s = expectOk(what, r); !s.isOk()) return s;
  auto id = api::parseId(r->body);
  if (!id.isOk()) return id.status();
  auto info = inspectNetwork(*id);
  if (!info.isOk()) return info.status();
  if (!info->has_value()) return Status::error(what + ": the new network vanished");
  return std::move(**info);
}

StatusOr<std::optional<NetworkInfo>> EngineClient::inspectNetwork(const std::string& id_or_name) {
  return inspectUnlessGone<NetworkInfo>("inspect network " + quoted(id_or_name),
                                        "/networks/" + api::percentEncode(id_or_name),
                                        api::parseNetworkInspect);
}

Status EngineClient::removeNetwork(const std::string& id_or_name) {
  return removeUnlessGone("remove network " + quoted(id_or_name),
                          "/networks/" + api::percentEncode(id_or_name));
}

StatusOr<std::vector<NetworkInfo>> EngineClient::listNetworks(const LabelFilter& labels) {
  auto r = call("GET", withLabelFilter("/networks", labels));
  if (Status s = expectOk("list networks", r); !s.isOk()) return s;
  return api::parseNetworkList(r->body);
}

// ---- volumes --------------------------------------------------------------

StatusOr<VolumeInfo> EngineClient::createVolume(const VolumeSpec& spec) {
  auto r = call("POST", "/volumes/create", api::volumeCreateBody(spec));
  if (Status s = expectOk("create volume " + quoted(spec.name), r); !s.isOk()) return s;
  return api::parseVolume(r->body);
}

Status EngineClient::removeVolume(const std::string& name, bool force) {
  return removeUnlessGone("remove volume " + quoted(name),
                          "/volumes/" + api::percentEncode(name) + (force ? "?force=1" : ""));
}

StatusOr<std::vector<VolumeInfo>> EngineClient::listVolumes(const LabelFilter& labels) {
  auto r = call("GET", withLabelFilter("/volumes", labels));
  if (Status s = expectOk("list volumes", r); !s.isOk()) return s;
  return api::parseVolumeList(r->body);
}

// ---- containers -----------------------------------------------------------

StatusOr<std::string> EngineClient::createContainer(const ContainerSpec& spec) {
  std::string path = "/containers/create";
  if (!spec.name.empty()) path += "?name=" + api::percentEncode(spec.name);
  auto r = call("POST", path, api::containerCreateBody(spec));
  const std::string what = "create container " + quoted(spec.name.empty() ? spec.image : spec.name);
  if (r.isOk() && r->status == 404) {
    return Status::error(what + ": image " + quoted(spec.image) +
                         " not found (HTTP 404): " + api::dockerMessage(r->body));
  }
  if (Status s = expectOk(what, r); !s.isOk()) return s;
  return api::parseId(r->body);
}

Status EngineClient::startContainer(const std::string& id) {
  // 304: already started.
  return expectOk("start container " + quoted(id),
                  call("POST", "/containers/" + api::percentEncode(id) + "/start"), 304);
}

Status EngineClient::stopContainer(const std::string& id, std::chrono::seconds grace) {
  // The daemon answers after the grace period at worst; allow for it.
  auto r = call(
      "POST", "/containers/" + api::percentEncode(id) + "/stop?t=" + std::to_string(grace.count()),
      "", grace + std::chrono::seconds(60));
  return expectOk("stop container " + quoted(id), r, 304);  // 304: already stopped
}

StatusOr<int> EngineClient::waitContainer(const std::string& id) {
  auto r = call("POST", "/containers/" + api::percentEncode(id) + "/wait?condition=not-running", "",
                kNoTimeout);
  if (Status s = expectOk("wait for container " + quoted(id), r); !s.isOk()) return s;
  return api::parseWaitResult(r->body);
}

Status EngineClient::removeContainer(const std::string& id, bool force) {
  return removeUnlessGone(
      "remove container " + quoted(id),
      "/containers/" + api::percentEncode(id) + "?v=1" + (force ? "&force=1" : ""));
}

StatusOr<std::optional<ContainerInfo>> EngineClient::inspectContainer(const std::string& id) {
  return inspectUnlessGone<ContainerInfo>("inspect container " + quoted(id),
                                          "/containers/" + api::percentEncode(id) + "/json",
                                          api::parseContainerInspect);
}

StatusOr<std::vector<ContainerSummary>> EngineClient::listContainers(const LabelFilter& labels) {
  auto r = call("GET", withLabelFilter("/containers/json?all=1", labels));
  if (Status s = expectOk("list containers", r); !s.isOk()) return s;
  return api::parseContainerList(r->body);
}

// ---- exec -----------------------------------------------------------------

StatusOr<std::string> EngineClient::createExec(const std::string& container_id,
                                               const ExecSpec& spec) {
  auto created = call("POST", "/containers/" + api::percentEncode(container_id) + "/exec",
                      api::execCreateBody(spec));
  if (Status s = expectOk("exec in container " + quoted(container_id), created); !s.isOk()) {
    return s;
  }
  return api::parseId(created->body);
}

StatusOr<ExecResult> EngineClient::exec(const std::string& container_id, const ExecSpec& spec) {
  return execStreaming(container_id, spec, nullptr);
}

StatusOr<ExecResult> EngineClient::execStreaming(const std::string& container_id,
                                                 const ExecSpec& spec, const OutputFn& on_output) {
  const std::string what = "exec in container " + quoted(container_id);
  auto exec_id = createExec(container_id, spec);
  if (!exec_id.isOk()) return exec_id.status();

  StreamDemuxer demux(spec.tty);
  TailBuffer out(spec.max_captured_bytes);
  TailBuffer err(spec.max_captured_bytes);
  const OutputFn collect = [&](OutputStream stream, std::string_view data) {
    (stream == OutputStream::kStdout ? out : err).append(data);
    if (on_output) on_output(stream, data);
  };
  HttpRequest start;
  start.method = "POST";
  start.target = versioned("/exec/" + *exec_id + "/start");
  start.content_type = kJson;
  start.body = api::execStartBody(spec.tty);
  auto started = http_.send(start, [&](std::string_view chunk) {
    demux.feed(chunk, collect);
    return true;
  });
  if (Status s = expectOk(what, started); !s.isOk()) return s;

  auto code = execExitCode(*exec_id);
  if (!code.isOk()) return code.status();
  ExecResult result;
  result.exit_code = *code;
  result.stdout_text = out.text();
  result.stderr_text = err.text();
  result.truncated = out.truncated() || err.truncated();
  return result;
}

// ---- archive, attach ------------------------------------------------------

Status EngineClient::putArchive(const std::string& container_id, const std::string& dir,
                                const std::string& tar_bytes) {
  HttpRequest request;
  request.method = "PUT";
  request.target = versioned("/containers/" + api::percentEncode(container_id) +
                             "/archive?path=" + api::percentEncode(dir));
  request.content_type = kTar;
  request.body = tar_bytes;
  request.timeout = std::chrono::seconds(300);
  auto r = http_.send(request);
  return expectOk("copy files into " + quoted(container_id) + ":" + dir, r);
}

StatusOr<AttachStream> EngineClient::attach(const std::string& container_id,
                                            const AttachOptions& options) {
  std::string query = "stream=1";
  query += options.stdin ? "&stdin=1" : "&stdin=0";
  query += options.stdout ? "&stdout=1" : "&stdout=0";
  query += options.stderr ? "&stderr=1" : "&stderr=0";
  if (!options.detach_keys.empty())
    query += "&detachKeys=" + api::percentEncode(options.detach_keys);
  HttpRequest request;
  request.method = "POST";
  request.target =
      versioned("/containers/" + api::percentEncode(container_id) + "/attach?" + query);
  auto hijacked = http_.hijack(request);
  if (!hijacked.isOk()) return hijacked.status();
  if (hijacked->status != 101 && !is2xx(hijacked->status)) {
    return api::errorFromResponse("attach to container " + quoted(container_id), hijacked->status,
                                  hijacked->pending);
  }
  AttachStream stream;
  stream.fd = std::move(hijacked->fd);
  stream.pending = std::move(hijacked->pending);
  return stream;
}

Status EngineClient::resizeTty(const std::string& container_id, int rows, int cols) {
  return expectOk("resize the terminal of " + quoted(container_id),
                  call("POST", "/containers/" + api::percentEncode(container_id) + "/resize?h=" +
                                   std::to_string(rows) + "&w=" + std::to_string(cols)));
}

StatusOr<int> EngineClient::execExitCode(const std::string& exec_id) {
  // The output ends when the process exits; the exit code lands in the
  // exec's state a moment later. Poll briefly, bounded.
  const std::string what = "exec " + quoted(exec_id);
  auto delay = std::chrono::milliseconds(2);
  for (int attempt = 0; attempt < 60; ++attempt) {
    auto inspected = call("GET", "/exec/" + api::percentEncode(exec_id) + "/json");
    if (Status s = expectOk(what, inspected); !s.isOk()) return s;
    auto state = api::parseExecInspect(inspected->body);
    if (!state.isOk()) return state.status();
    if (!state->running && state->exit_code) return *state->exit_code;
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(200));
  }
  return Status::error(what + ": the command's exit code never arrived");
}

StatusOr<ExecSession> EngineClient::execAttach(const std::string& container_id,
                                               const ExecSpec& spec) {
  const std::string what = "exec in container " + quoted(container_id);
  auto exec_id = createExec(container_id, spec);
  if (!exec_id.isOk()) return exec_id.status();
  HttpRequest start;
  start.method = "POST";
  start.target = versioned("/exec/" + *exec_id + "/start");
  start.content_type = kJson;
  start.body = api::execStartBody(spec.tty);
  auto hijacked = http_.hijack(start);
  if (!hijacked.isOk()) return hijacked.status();
  if (hijacked->status != 101 && !is2xx(hijacked->status)) {
    return api::errorFromResponse(what, hijacked->status, hijacked->pending);
  }
  ExecSession session;
  session.id = *exec_id;
  session.stream.fd = std::move(hijacked->fd);
  session.stream.pending = std::move(hijacked->pending);
  return session;
}

Status EngineClient::resizeExec(const std::string& exec_id, int rows, int cols) {
  return expectOk("resize the terminal of exec " + quoted(exec_id),
                  call("POST", "/exec/" + api::percentEncode(exec_id) + "/resize?h=" +
                                   std::to_string(rows) + "&w=" + std::to_string(cols)));
}

StatusOr<std::string> EngineClient::containerLogs(const std::string& container_id, int tail_lines) {
  auto info = inspectContainer(container_id);
  if (!info.isOk()) return info.status();
  if (!info->has_value()) return Status::error("no container " + quoted(container_id));
  auto r = call("GET", "/containers/" + api::percentEncode(container_id) +
                           "/logs?stdout=1&stderr=1&tail=" + std::to_string(tail_lines));
  if (Status s = expectOk("logs of container " + quoted(container_id), r); !s.isOk()) return s;
  StreamDemuxer demux((*info)->tty);
  std::string text;
  demux.feed(r->body, [&](OutputStream, std::string_view data) { text += data; });
  return text;
}

}  // namespace kitgate::docker
