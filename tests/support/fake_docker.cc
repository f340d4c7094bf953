#include "tests/support/fake_docker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace kitgate::docker::testing {
namespace {

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// "name" -> "name:latest"; refs with a tag or digest stay as they are.
std::string normalizeRef(const std::string& ref) {
  const size_t slash = ref.rfind('/');
  const size_t colon = ref.rfind(':');
  if (ref.find('@') != std::string::npos) return ref;
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) return ref;
  return ref + ":latest";
}

bool matches(const Labels& labels, const LabelFilter& filter) {
  for (const std::string& f : filter) {
    const size_t eq = f.find('=');
    auto it = labels.find(f.substr(0, eq));
    if (it == labels.end()) return false;
    if (eq != std::string::npos && it->second != f.substr(eq + 1)) return false;
  }
  return true;
}

Status httpError(const std::string& what, int status, const std::string& message) {
  const char* kind = status == 403   ? "refused"
                     : status == 404 ? "not found"
                     : status == 409 ? "conflict"
                                     : "daemon error";
  return Status::error(what + ": " + kind + " (HTTP " + std::to_string(status) + "): " + message);
}

}  // namespace

FakeDockerClient::FakeDockerClient()
    : exec_handler_([](const Container&, const ExecSpec&) {
        ExecResult r;
        r.exit_code = 0;
        return r;
      }) {}

void FakeDockerClient::addImage(const std::string& ref, ImageInfo info) {
  const std::string key = normalizeRef(ref);
  if (info.id.empty()) info.id = "sha256:" + nextId("img");
  if (info.repo_tags.empty()) info.repo_tags = {key};
  images_[key] = std::move(info);
}

void FakeDockerClient::allowPull(const std::string& ref, ImageInfo info, int layers) {
  pullable_[normalizeRef(ref)] = {std::move(info), layers};
}

void FakeDockerClient::failNext(const std::string& method, std::string error) {
  failures_[method] = std::move(error);
}

FakeDockerClient::Container* FakeDockerClient::findContainer(const std::string& id_or_name) {
  if (auto it = containers_.find(id_or_name); it != containers_.end()) return &it->second;
  for (auto& [id, c] : containers_) {
    if (c.info.name == id_or_name) return &c;
  }
  return nullptr;
}

NetworkInfo* FakeDockerClient::findNetwork(const std::string& id_or_name) {
  if (auto it = networks_.find(id_or_name); it != networks_.end()) return &it->second;
  for (auto& [id, n] : networks_) {
    if (n.name == id_or_name) return &n;
  }
  return nullptr;
}

bool FakeDockerClient::nothingLabelled(const std::string& label) const {
  const LabelFilter f = {label};
  return std::none_of(containers_.begin(), containers_.end(),
                      [&](const auto& c) { return matches(c.second.info.labels, f); }) &&
         std::none_of(networks_.begin(), networks_.end(),
                      [&](const auto& n) { return matches(n.second.labels, f); }) &&
         std::none_of(volumes_.begin(), volumes_.end(),
                      [&](const auto& v) { return matches(v.second.labels, f); });
}

Status FakeDockerClient::enter(const std::string& method, const std::string& arg) {
  calls_.push_back(arg.empty() ? method : method + " " + arg);
  if (unreachable_) {
    return Status::error(
        "cannot reach the Docker daemon at unix:///var/run/docker.sock: the socket does not "
        "exist. Is dockerd running?");
  }
  if (auto it = failures_.find(method); it != failures_.end()) {
    Status s = Status::error(it->second);
    failures_.erase(it);
    return s;
  }
  return Status::ok();
}

std::string FakeDockerClient::nextId(const char* prefix) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s%012d", prefix, next_id_++);
  return buf;
}

StatusOr<VersionInfo> FakeDockerClient::version() {
  if (Status s = enter("version", ""); !s.isOk()) return s;
  VersionInfo v;
  v.engine_version = "fake";
  v.server_api_version = "1.41";
  v.min_api_version = "1.12";
  v.negotiated_api_version = "1.41";
  v.os = "linux";
  v.arch = "amd64";
  return v;
}

Status FakeDockerClient::ping() { return enter("ping", ""); }

StatusOr<std::optional<ImageInfo>> FakeDockerClient::inspectImage(const std::string& ref) {
  if (Status s = enter("inspectImage", ref); !s.isOk()) return s;
  auto it = images_.find(normalizeRef(ref));
  if (it == images_.end()) return std::optional<ImageInfo>();
  return std::optional<ImageInfo>(it->second);
}

Status FakeDockerClient::pullImage(const std::string& ref, const PullProgressFn& progress) {
  if (Status s = enter("pullImage", ref); !s.isOk()) return s;
  auto it = pullable_.find(normalizeRef(ref));
  if (it == pullable_.end()) {
    return httpError("pull image " + quoted(ref), 404,
                     "pull access denied for " + ref + ", repository does not exist");
  }
  for (int layer = 0; layer < it->second.second && progress; ++layer) {
    const std::string id = "layer" + std::to_string(layer);
    progress(PullProgress{id, "Downloading", 50, 100});
    progress(PullProgress{id, "Pull complete", 0, 0});
  }
  addImage(ref, it->second.first);
  return Status::ok();
}

StatusOr<std::string> FakeDockerClient::importImage(const ImportSpec& spec) {
  const std::string ref = spec.repository + ":" + spec.tag;
  if (Status s = enter("importImage", ref); !s.isOk()) return s;
  ImageInfo info;
  for (const std::string& change : spec.changes) {
    if (change.rfind("LABEL ", 0) == 0) {
      const std::string kv = change.substr(6);
      const size_t eq = kv.find('=');
      if (eq != std::string::npos) info.labels[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  addImage(ref, std::move(info));
  return images_[normalizeRef(ref)].id;
}

Status FakeDockerClient::loadImage(const std::string& tarball_path) {
  return enter("loadImage", tarball_path);
}

Status FakeDockerClient::removeImage(const std::string& ref, bool force) {
  if (Status s = enter("removeImage", ref); !s.isOk()) return s;
  const std::string key = normalizeRef(ref);
  if (!force) {
    for (const auto& [id, c] : containers_) {
      if (normalizeRef(c.spec.image) == key) {
        return httpError("remove image " + quoted(ref), 409,
                         "conflict: unable to remove repository reference \"" + ref +
                             "\" (must force) - container " + id +
                             " is using its referenced image");
      }
    }
  }
  images_.erase(key);
  return Status::ok();
}

StatusOr<NetworkInfo> FakeDockerClient::createNetwork(const NetworkSpec& spec) {
  if (Status s = enter("createNetwork", spec.name); !s.isOk()) return s;
  if (findNetwork(spec.name) != nullptr) {
    return httpError("create network " + quoted(spec.name), 409,
                     "network with name " + spec.name + " already exists");
  }
  NetworkInfo n;
  n.id = nextId("net");
  n.name = spec.name;
  n.driver = spec.driver;
  n.internal = spec.internal;
  n.labels = spec.labels;
  const int third = 16 + next_subnet_++;
  n.subnet = (spec.ipam && !spec.ipam->subnet.empty())
                 ? spec.ipam->subnet
                 : "172.30." + std::to_string(third) + ".0/24";
  n.gateway = (spec.ipam && !spec.ipam->gateway.empty()) ? spec.ipam->gateway
                                                         : "172.30." + std::to_string(third) + ".1";
  networks_[n.id] = n;
  return n;
}

StatusOr<std::optional<NetworkInfo>> FakeDockerClient::inspectNetwork(
    const std::string& id_or_name) {
  if (Status s = enter("inspectNetwork", id_or_name); !s.isOk()) return s;
  NetworkInfo* n = findNetwork(id_or_name);
  if (n == nullptr) return std::optional<NetworkInfo>();
  NetworkInfo copy = *n;
  copy.container_ids.clear();
  for (const auto& [id, c] : containers_) {
    if (c.spec.network == n->name || c.spec.network == n->id) copy.container_ids.push_back(id);
  }
  return std::optional<NetworkInfo>(std::move(copy));
}

Status FakeDockerClient::removeNetwork(const std::string& id_or_name) {
  if (Status s = enter("removeNetwork", id_or_name); !s.isOk()) return s;
  NetworkInfo* n = findNetwork(id_or_name);
  if (n == nullptr) return Status::ok();
  for (const auto& [id, c] : containers_) {
    if (c.info.state.running && (c.spec.network == n->name || c.spec.network == n->id)) {
      return httpError("remove network " + quoted(id_or_name), 403,
                       "error while removing network: network " + n->name + " id " + n->id +
                           " has active endpoints");
    }
  }
  networks_.erase(n->id);
  return Status::ok();
}

StatusOr<std::vector<NetworkInfo>> FakeDockerClient::listNetworks(const LabelFilter& labels) {
  if (Status s = enter("listNetworks", ""); !s.isOk()) return s;
  std::vector<NetworkInfo> out;
  for (const auto& [id, n] : networks_) {
    if (matches(n.labels, labels)) out.push_back(n);
  }
  return out;
}

StatusOr<VolumeInfo> FakeDockerClient::createVolume(const VolumeSpec& spec) {
  if (Status s = enter("createVolume", spec.name); !s.isOk()) return s;
  const std::string name = spec.name.empty() ? nextId("vol") : spec.name;
  auto [it, inserted] = volumes_.try_emplace(name);
  if (inserted) {  // like Docker: creating an existing volume returns it
    it->second.name = name;
    it->second.driver = spec.driver;
    it->second.labels = spec.labels;
    it->second.mountpoint = "/var/lib/docker/volumes/" + name + "/_data";
  }
  return it->second;
}

Status FakeDockerClient::removeVolume(const std::string& name, bool force) {
  if (Status s = enter("removeVolume", name); !s.isOk()) return s;
  if (!force) {
    for (const auto& [id, c] : containers_) {
      for (const Mount& m : c.spec.mounts) {
        if (m.type == MountType::kVolume && m.source == name) {
          return httpError("remove volume " + quoted(name), 409,
                           "remove " + name + ": volume is in use - [" + id + "]");
        }
      }
    }
  }
  volumes_.erase(name);
  return Status::ok();
}

StatusOr<std::vector<VolumeInfo>> FakeDockerClient::listVolumes(const LabelFilter& labels) {
  if (Status s = enter("listVolumes", ""); !s.isOk()) return s;
  std::vector<VolumeInfo> out;
  for (const auto& [name, v] : volumes_) {
    if (matches(v.labels, labels)) out.push_back(v);
  }
  return out;
}

StatusOr<std::string> FakeDockerClient::createContainer(const ContainerSpec& spec) {
  const std::string what = "create container " + quoted(spec.name.empty() ? spec.image : spec.name);
  if (Status s = enter("createContainer", spec.name); !s.isOk()) return s;
  auto image = images_.find(normalizeRef(spec.image));
  if (image == images_.end()) {
    return Status::error(what + ": image " + quoted(spec.image) +
                         " not found (HTTP 404): No such image: " + spec.image);
  }
  if (!spec.name.empty() && findContainer(spec.name) != nullptr) {
    return httpError(what, 409,
                     "Conflict. The container name \"/" + spec.name + "\" is already in use");
  }
  if (!spec.network.empty() && findNetwork(spec.network) == nullptr) {
    return httpError(what, 404, "network " + spec.network + " not found");
  }
  Container c;
  c.spec = spec;
  c.info.id = nextId("ctr");
  c.info.name = spec.name.empty() ? "fake_" + c.info.id : spec.name;
  c.info.image = spec.image;
  c.info.image_id = image->second.id;
  c.info.state.status = "created";
  c.info.labels = spec.labels;
  c.info.env = spec.env;
  c.info.user = spec.user;
  c.info.tty = spec.tty;
  if (!spec.network.empty()) c.info.network_ips[spec.network] = "";
  const std::string id = c.info.id;
  containers_.emplace(id, std::move(c));
  return id;
}

Status FakeDockerClient::startContainer(const std::string& id) {
  if (Status s = enter("startContainer", id); !s.isOk()) return s;
  Container* c = findContainer(id);
  if (c == nullptr)
    return httpError("start container " + quoted(id), 404, "No such container: " + id);
  c->info.state.status = "running";
  c->info.state.running = true;
  c->info.state.pid = 4242;
  for (auto& [network, ip] : c->info.network_ips) {
    if (NetworkInfo* n = findNetwork(network); n != nullptr && ip.empty()) {
      ip = n->gateway.substr(0, n->gateway.rfind('.')) + ".2";
    }
  }
  return Status::ok();
}

Status FakeDockerClient::stopContainer(const std::string& id, std::chrono::seconds) {
  if (Status s = enter("stopContainer", id); !s.isOk()) return s;
  Container* c = findContainer(id);
  if (c == nullptr)
    return httpError("stop container " + quoted(id), 404, "No such container: " + id);
  if (c->info.state.running) {
    c->info.state = ContainerState{"exited", false, c->exit_code_on_stop, 0};
  }
  return Status::ok();
}

StatusOr<int> FakeDockerClient::waitContainer(const std::string& id) {
  if (Status s = enter("waitContainer", id); !s.isOk()) return s;
  Container* c = findContainer(id);
  if (c == nullptr)
    return httpError("wait for container " + quoted(id), 404, "No such container: " + id);
  // Nothing runs here: waiting on a running container means it exits now.
  c->info.state = ContainerState{"exited", false, c->exit_code_on_stop, 0};
  return c->exit_code_on_stop;
}

Status FakeDockerClient::removeContainer(const std::string& id, bool force) {
  if (Status s = enter("removeContainer", id); !s.isOk()) return s;
  Container* c = findContainer(id);
  if (c == nullptr) return Status::ok();
  if (c->info.state.running && !force) {
    return httpError("remove container " + quoted(id), 409,
                     "You cannot remove a running container " + c->info.id +
                         ". Stop the container before attempting removal or force remove");
  }
  containers_.erase(c->info.id);
  return Status::ok();
}

StatusOr<std::optional<ContainerInfo>> FakeDockerClient::inspectContainer(const std::string& id) {
  if (Status s = enter("inspectContainer", id); !s.isOk()) return s;
  Container* c = findContainer(id);
  if (c == nullptr) return std::optional<ContainerInfo>();
  return std::optional<ContainerInfo>(c->info);
}

StatusOr<std::vector<ContainerSummary>> FakeDockerClient::listContainers(
    const LabelFilter& labels) {
  if (Status s = enter("listContainers", ""); !s.isOk()) return s;
  std::vector<ContainerSummary> out;
  for (const auto& [id, c] : containers_) {
    if (matches(c.info.labels, labels)) {
      out.push_back(
          ContainerSummary{id, c.info.name, c.spec.image, c.info.state.status, c.info.labels});
    }
  }
  return out;
}

StatusOr<ExecResult> FakeDockerClient::exec(const std::string& container_id, const ExecSpec& spec) {
  return execStreaming(container_id, spec, nullptr);
}

StatusOr<FakeDockerClient::Container*> FakeDockerClient::startExec(const std::string& method,
                                                                   const std::string& container_id,
                                                                   const ExecSpec& spec) {
  const std::string what = "exec in container " + quoted(container_id);
  if (Status s = enter(method, container_id + (spec.cmd.empty() ? "" : " " + spec.cmd.back()));
      !s.isOk()) {
    return s;
  }
  Container* c = findContainer(container_id);
  if (c == nullptr) return httpError(what, 404, "No such container: " + container_id);
  if (!c->info.state.running) {
    return httpError(what, 409, "Container " + c->info.id + " is not running");
  }
  c->execs.push_back(spec);
  return c;
}

StatusOr<ExecResult> FakeDockerClient::execStreaming(const std::string& container_id,
                                                     const ExecSpec& spec,
                                                     const OutputFn& on_output) {
  auto found = startExec("exec", container_id, spec);
  if (!found.isOk()) return found.status();
  Container* c = *found;
  ExecResult result = exec_handler_(*c, spec);
  if (on_output) {
    if (!result.stdout_text.empty()) on_output(OutputStream::kStdout, result.stdout_text);
    if (!result.stderr_text.empty()) on_output(OutputStream::kStderr, result.stderr_text);
  }
  return result;
}

Status FakeDockerClient::putArchive(const std::string& container_id, const std::string& dir,
                                    const std::string& tar_bytes) {
  if (Status s = enter("putArchive", container_id + " " + dir); !s.isOk()) return s;
  Container* c = findContainer(container_id);
  if (c == nullptr) {
    return httpError("copy files into " + quoted(container_id) + ":" + dir, 404,
                     "No such container:path: " + container_id + ":" + dir);
  }
  c->archives.push_back(Archive{dir, tar_bytes});
  return Status::ok();
}

StatusOr<AttachStream> FakeDockerClient::attach(const std::string& container_id,
                                                const AttachOptions&) {
  if (Status s = enter("attach", container_id); !s.isOk()) return s;
  Container* c = findContainer(container_id);
  if (c == nullptr) {
    return httpError("attach to container " + quoted(container_id), 404,
                     "No such container: " + container_id);
  }
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return Status::error("attach: socketpair failed");
  }
  c->attach_peer = UniqueFd(fds[1]);
  AttachStream stream;
  stream.fd = UniqueFd(fds[0]);
  return stream;
}

Status FakeDockerClient::resizeTty(const std::string& container_id, int rows, int cols) {
  if (Status s = enter("resizeTty", container_id); !s.isOk()) return s;
  Container* c = findContainer(container_id);
  if (c == nullptr) {
    return httpError("resize the terminal of " + quoted(container_id), 404,
                     "No such container: " + container_id);
  }
  c->tty_rows = rows;
  c->tty_cols = cols;
  return Status::ok();
}

void FakeDockerClient::exitContainer(const std::string& id_or_name, int code, std::string logs) {
  Container* c = findContainer(id_or_name);
  if (c == nullptr) return;
  c->info.state = ContainerState{"exited", false, code, 0};
  c->exit_code_on_stop = code;
  c->logs += logs;
}

StatusOr<ExecSession> FakeDockerClient::execAttach(const std::string& container_id,
                                                   const ExecSpec& spec) {
  auto found = startExec("execAttach", container_id, spec);
  if (!found.isOk()) return found.status();
  Container* c = *found;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return Status::error("exec: socketpair failed");
  }
  if (!exec_attach_output_.empty()) {
    if (::write(fds[1], exec_attach_output_.data(), exec_attach_output_.size()) !=
        static_cast<ssize_t>(exec_attach_output_.size())) {
      ::close(fds[0]), ::close(fds[1]);
      return Status::error("exec: socketpair write failed");
    }
    ::shutdown(fds[1], SHUT_WR);
  }
  const std::string id = nextId("exec");
  sessions_[id] = Session{c->info.id, spec, UniqueFd(fds[1]), 0, 0};
  ExecSession session;
  session.id = id;
  session.stream.fd = UniqueFd(fds[0]);
  return session;
}

Status FakeDockerClient::resizeExec(const std::string& exec_id, int rows, int cols) {
  if (Status s = enter("resizeExec", exec_id); !s.isOk()) return s;
  auto it = sessions_.find(exec_id);
  if (it == sessions_.end())
    return httpError("resize exec " + quoted(exec_id), 404, "No such exec instance");
  it->second.rows = rows;
  it->second.cols = cols;
  return Status::ok();
}

StatusOr<int> FakeDockerClient::execExitCode(const std::string& exec_id) {
  if (Status s = enter("execExitCode", exec_id); !s.isOk()) return s;
  auto it = sessions_.find(exec_id);
  if (it == sessions_.end())
    return httpError("exec " + quoted(exec_id), 404, "No such exec instance");
  Container* c = findContainer(it->second.container_id);
  if (c == nullptr) return httpError("exec " + quoted(exec_id), 404, "No such container");
  ExecResult r;
  if (exec_handler_) r = exec_handler_(*c, it->second.spec);
  return r.exit_code;
}

StatusOr<std::string> FakeDockerClient::containerLogs(const std::string& container_id,
                                                      int tail_lines) {
  if (Status s = enter("containerLogs", container_id); !s.isOk()) return s;
  Container* c = findContainer(container_id);
  if (c == nullptr)
    return httpError("logs of container " + quoted(container_id), 404,
                     "No such container: " + container_id);
  const std::string& logs = c->logs;
  size_t end = logs.size();
  if (end > 0 && logs[end - 1] == '\n') --end;
  size_t at = end;
  for (int seen = 0; at > 0; --at) {
    if (logs[at - 1] == '\n' && ++seen == tail_lines) break;
  }
  return c->logs.substr(at);
}

}  // namespace kitgate::docker::testing
