#include "orchestrator/docker/api.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <utility>

namespace kitgate::docker::api {
namespace {

using nlohmann::json;

// Parses without throwing; a parse error becomes a Status naming `what`.
StatusOr<json> parseJson(std::string_view what, std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return Status::error(std::string(what) + ": the Docker daemon sent malformed JSON");
  }
  return j;
}

// Typed, non-throwing field readers: a missing or mistyped field reads as
// empty, as Docker omits empty fields freely.
std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}
int64_t num(const json& j, const char* key) {
  auto it = j.find(key);
  return (it != j.end() && it->is_number()) ? it->get<int64_t>() : 0;
}
bool boolean(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
const json& obj(const json& j, const char* key) {
  static const json kEmpty = json::object();
  auto it = j.find(key);
  return (it != j.end() && it->is_object()) ? *it : kEmpty;
}
std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& e : *it) {
    if (e.is_string()) out.push_back(e.get<std::string>());
  }
  return out;
}
Labels labels(const json& j, const char* key) {
  Labels out;
  for (const auto& [k, v] : obj(j, key).items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

// Runs a parser; a nlohmann exception (a bug of ours on odd input) becomes
// a Status instead of crossing the library boundary.
template <typename T, typename F>
StatusOr<T> guarded(std::string_view what, std::string_view body, F&& parse) {
  auto j = parseJson(what, body);
  if (!j.isOk()) return j.status();
  try {
    return parse(*j);
  } catch (const json::exception& e) {
    return Status::error(std::string(what) + ": unexpected answer from the Docker daemon: " + e.what());
  }
}

struct Version {
  int major = 0;
  int minor = 0;
  auto operator<=>(const Version&) const = default;
};

std::optional<Version> parseVersionText(std::string_view text) {
  Version v;
  const char* end = text.data() + text.size();
  auto r = std::from_chars(text.data(), end, v.major);
  if (r.ec != std::errc() || r.ptr == end || *r.ptr != '.') return std::nullopt;
  r = std::from_chars(r.ptr + 1, end, v.minor);
  if (r.ec != std::errc() || r.ptr != end) return std::nullopt;
  return v;
}

NetworkInfo networkFrom(const json& j) {
  NetworkInfo n;
  n.id = str(j, "Id");
  n.name = str(j, "Name");
  n.driver = str(j, "Driver");
  n.internal = boolean(j, "Internal");
  n.labels = labels(j, "Labels");
  const json& ipam = obj(j, "IPAM");
  if (auto it = ipam.find("Config"); it != ipam.end() && it->is_array() && !it->empty()) {
    n.subnet = str((*it)[0], "Subnet");
    n.gateway = str((*it)[0], "Gateway");
  }
  for (const auto& [id, _] : obj(j, "Containers").items()) n.container_ids.push_back(id);
  return n;
}

VolumeInfo volumeFrom(const json& j) {
  VolumeInfo v;
  v.name = str(j, "Name");
  v.driver = str(j, "Driver");
  v.mountpoint = str(j, "Mountpoint");
  v.labels = labels(j, "Labels");
  return v;
}

std::string stripSlash(std::string name) {
  if (!name.empty() && name[0] == '/') name.erase(0, 1);
  return name;
}

}  // namespace

StatusOr<std::string> negotiateApiVersion(std::string_view server_api_version) {
  auto server = parseVersionText(server_api_version);
  if (!server) {
    return Status::error("the Docker daemon reports an unreadable API version \"" +
                         std::string(server_api_version) + "\"");
  }
  if (*server < *parseVersionText(kMinApiVersion)) {
    return Status::error("the Docker daemon speaks API " + std::string(server_api_version) +
                         ", older than the " + std::string(kMinApiVersion) +
                         " kitgate needs; upgrade Docker");
  }
  if (*server > *parseVersionText(kMaxApiVersion)) return std::string(kMaxApiVersion);
  return std::to_string(server->major) + "." + std::to_string(server->minor);
}

StatusOr<VersionInfo> parseVersion(std::string_view body) {
  auto info = guarded<VersionInfo>("docker version", body, [](const json& j) {
    VersionInfo v;
    v.engine_version = str(j, "Version");
    v.server_api_version = str(j, "ApiVersion");
    v.min_api_version = str(j, "MinAPIVersion");
    v.os = str(j, "Os");
    v.arch = str(j, "Arch");
    return v;
  });
  if (!info.isOk()) return info;
  auto negotiated = negotiateApiVersion(info->server_api_version);
  if (!negotiated.isOk()) return negotiated.status();
  info->negotiated_api_version = *negotiated;
  return info;
}

std::string dockerMessage(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    std::string m = str(j, "message");
    if (!m.empty()) return m;
  }
  std::string text(body.substr(0, 500));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

Status errorFromResponse(std::string_view what, long http_status, std::string_view body) {
  const char* kind = "unexpected answer";
  switch (http_status) {
    case 400: kind = "bad request"; break;
    case 401:
    case 403: kind = "refused"; break;
    case 404: kind = "not found"; break;
    case 409: kind = "conflict"; break;
    case 500: kind = "daemon error"; break;
    case 503: kind = "daemon unavailable"; break;
    default: break;
  }
  std::string text = std::string(what) + ": " + kind + " (HTTP " + std::to_string(http_status) + ")";
  std::string message = dockerMessage(body);
  if (!message.empty()) text += ": " + message;
  return Status::error(std::move(text));
}

std::string percentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string labelFilterQuery(const LabelFilter& label_filter) {
  if (label_filter.empty()) return "";
  json f = {{"label", label_filter}};
  return "filters=" + percentEncode(f.dump());
}

std::string containerCreateBody(const ContainerSpec& spec) {
  json j = {
      {"Image", spec.image},
      {"Env", spec.env},
      {"Labels", spec.labels},
      {"Tty", spec.tty},
      {"OpenStdin", spec.open_stdin},
      {"StdinOnce", false},
      {"AttachStdin", spec.open_stdin},
      {"AttachStdout", true},
      {"AttachStderr", true},
  };
  if (!spec.user.empty()) j["User"] = spec.user;
  if (!spec.working_dir.empty()) j["WorkingDir"] = spec.working_dir;
  if (!spec.hostname.empty()) j["Hostname"] = spec.hostname;
  if (spec.entrypoint) j["Entrypoint"] = *spec.entrypoint;
  if (spec.cmd) j["Cmd"] = *spec.cmd;

  json mounts = json::array();
  for (const Mount& m : spec.mounts) {
    json e = {{"Target", m.target}, {"ReadOnly", m.read_only}};
    switch (m.type) {
      case MountType::kBind: e["Type"] = "bind"; e["Source"] = m.source; break;
      case MountType::kVolume: e["Type"] = "volume"; e["Source"] = m.source; break;
      case MountType::kTmpfs: e["Type"] = "tmpfs"; break;
    }
    mounts.push_back(std::move(e));
  }
  json host = {{"Mounts", mounts}, {"ExtraHosts", spec.extra_hosts}, {"Init", spec.init}};
  if (!spec.runtime.empty()) host["Runtime"] = spec.runtime;
  if (spec.privileged) host["Privileged"] = true;
  if (!spec.dns.empty()) host["Dns"] = spec.dns;
  if (!spec.network.empty()) {
    host["NetworkMode"] = spec.network;
    json endpoint = json::object();
    if (!spec.network_aliases.empty()) endpoint["Aliases"] = spec.network_aliases;
    j["NetworkingConfig"] = {{"EndpointsConfig", {{spec.network, endpoint}}}};
  }
  j["HostConfig"] = std::move(host);
  return j.dump();
}

std::string networkCreateBody(const NetworkSpec& spec) {
  json j = {{"Name", spec.name},         {"Driver", spec.driver},   {"Internal", spec.internal},
            {"CheckDuplicate", true},    {"Labels", spec.labels},   {"Options", spec.options}};
  if (spec.ipam) {
    json config = json::object();
    if (!spec.ipam->subnet.empty()) config["Subnet"] = spec.ipam->subnet;
    if (!spec.ipam->gateway.empty()) config["Gateway"] = spec.ipam->gateway;
    j["IPAM"] = {{"Driver", "default"}, {"Config", json::array({config})}};
  }
  return j.dump();
}

std::string volumeCreateBody(const VolumeSpec& spec) {
  json j = {{"Driver", spec.driver}, {"Labels", spec.labels}};
  if (!spec.name.empty()) j["Name"] = spec.name;
  return j.dump();
}

std::string execCreateBody(const ExecSpec& spec) {
  json j = {{"Cmd", spec.cmd},         {"AttachStdin", spec.attach_stdin}, {"AttachStdout", true},
            {"AttachStderr", true},    {"Tty", spec.tty}};
  if (!spec.env.empty()) j["Env"] = spec.env;
  if (!spec.user.empty()) j["User"] = spec.user;
  if (!spec.working_dir.empty()) j["WorkingDir"] = spec.working_dir;
  return j.dump();
}

std::string execStartBody(bool tty) { return json{{"Detach", false}, {"Tty", tty}}.dump(); }

std::string importQuery(const ImportSpec& spec) {
  std::string q = "fromSrc=-&repo=" + percentEncode(spec.repository);
  if (!spec.tag.empty()) q += "&tag=" + percentEncode(spec.tag);
  for (const std::string& c : spec.changes) q += "&changes=" + percentEncode(c);
  return q;
}

std::string pullQuery(std::string_view ref) {
  // A ':' after the last '/' separates the tag ("host:5000/name" has none).
  std::string_view name = ref;
  std::string_view tag = "latest";
  if (auto at = ref.find('@'); at != std::string_view::npos) {
    name = ref.substr(0, at);
    tag = ref.substr(at + 1);  // a digest goes in the tag parameter
  } else if (auto colon = ref.rfind(':');
             colon != std::string_view::npos &&
             (ref.rfind('/') == std::string_view::npos || colon > ref.rfind('/'))) {
    name = ref.substr(0, colon);
    tag = ref.substr(colon + 1);
  }
  return "fromImage=" + percentEncode(name) + "&tag=" + percentEncode(tag);
}

bool isRegistryAuthError(std::string_view message) {
  for (std::string_view needle : {"no basic auth credentials", "unauthorized",
                                  "authentication required", "denied: requested access"}) {
    if (message.find(needle) != std::string_view::npos) return true;
  }
  return false;
}

StatusOr<std::string> parseId(std::string_view body) {
  return guarded<std::string>("docker", body, [](const json& j) -> StatusOr<std::string> {
    std::string id = str(j, "Id");
    if (id.empty()) return Status::error("the Docker daemon's answer has no Id");
    return id;
  });
}

StatusOr<ImageInfo> parseImageInspect(std::string_view body) {
  return guarded<ImageInfo>("inspect image", body, [](const json& j) {
    ImageInfo i;
    i.id = str(j, "Id");
    i.repo_tags = strings(j, "RepoTags");
    i.size_bytes = num(j, "Size");
    const json& config = obj(j, "Config");
    i.labels = labels(config, "Labels");
    i.user = str(config, "User");
    i.working_dir = str(config, "WorkingDir");
    i.env = strings(config, "Env");
    i.entrypoint = strings(config, "Entrypoint");
    i.cmd = strings(config, "Cmd");
    return i;
  });
}

StatusOr<NetworkInfo> parseNetworkInspect(std::string_view body) {
  return guarded<NetworkInfo>("inspect network", body, [](const json& j) { return networkFrom(j); });
}

StatusOr<std::vector<NetworkInfo>> parseNetworkList(std::string_view body) {
  return guarded<std::vector<NetworkInfo>>("list networks", body, [](const json& j) {
    std::vector<NetworkInfo> out;
    if (j.is_array()) {
      for (const auto& e : j) out.push_back(networkFrom(e));
    }
    return out;
  });
}

StatusOr<VolumeInfo> parseVolume(std::string_view body) {
  return guarded<VolumeInfo>("volume", body, [](const json& j) { return volumeFrom(j); });
}

StatusOr<std::vector<VolumeInfo>> parseVolumeList(std::string_view body) {
  return guarded<std::vector<VolumeInfo>>("list volumes", body, [](const json& j) {
    std::vector<VolumeInfo> out;
    if (auto it = j.find("Volumes"); it != j.end() && it->is_array()) {
      for (const auto& e : *it) out.push_back(volumeFrom(e));
    }
    return out;
  });
}

StatusOr<ContainerInfo> parseContainerInspect(std::string_view body) {
  return guarded<ContainerInfo>("inspect container", body, [](const json& j) {
    ContainerInfo c;
    c.id = str(j, "Id");
    c.name = stripSlash(str(j, "Name"));
    c.image_id = str(j, "Image");
    const json& state = obj(j, "State");
    c.state.status = str(state, "Status");
    c.state.running = boolean(state, "Running");
    c.state.exit_code = static_cast<int>(num(state, "ExitCode"));
    c.state.pid = static_cast<int>(num(state, "Pid"));
    const json& config = obj(j, "Config");
    c.image = str(config, "Image");
    c.labels = labels(config, "Labels");
    c.env = strings(config, "Env");
    c.user = str(config, "User");
    c.tty = boolean(config, "Tty");
    for (const auto& [name, endpoint] : obj(obj(j, "NetworkSettings"), "Networks").items()) {
      c.network_ips[name] = str(endpoint, "IPAddress");
    }
    return c;
  });
}

StatusOr<std::vector<ContainerSummary>> parseContainerList(std::string_view body) {
  return guarded<std::vector<ContainerSummary>>("list containers", body, [](const json& j) {
    std::vector<ContainerSummary> out;
    if (!j.is_array()) return out;
    for (const auto& e : j) {
      ContainerSummary s;
      s.id = str(e, "Id");
      auto names = strings(e, "Names");
      if (!names.empty()) s.name = stripSlash(names.front());
      s.image = str(e, "Image");
      s.state = str(e, "State");
      s.labels = labels(e, "Labels");
      out.push_back(std::move(s));
    }
    return out;
  });
}

StatusOr<int> parseWaitResult(std::string_view body) {
  return guarded<int>("wait for container", body, [](const json& j) -> StatusOr<int> {
    const json& error = obj(j, "Error");
    if (std::string m = str(error, "Message"); !m.empty()) {
      return Status::error("wait for container: " + m);
    }
    if (!j.contains("StatusCode")) return Status::error("wait for container: no StatusCode");
    return static_cast<int>(num(j, "StatusCode"));
  });
}

StatusOr<ExecState> parseExecInspect(std::string_view body) {
  return guarded<ExecState>("inspect exec", body, [](const json& j) {
    ExecState s;
    s.running = boolean(j, "Running");
    if (auto it = j.find("ExitCode"); it != j.end() && it->is_number()) {
      s.exit_code = it->get<int>();
    }
    return s;
  });
}

Status ProgressStream::feed(std::string_view chunk) {
  partial_.append(chunk);
  size_t start = 0;
  for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
    Status s = line(std::string_view(partial_).substr(start, nl - start));
    if (!s.isOk() && error_.isOk()) error_ = s;
  }
  partial_.erase(0, start);
  return error_;
}

Status ProgressStream::finish() {
  if (!partial_.empty()) {
    Status s = line(partial_);
    if (!s.isOk() && error_.isOk()) error_ = s;
    partial_.clear();
  }
  return error_;
}

Status ProgressStream::line(std::string_view text) {
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty()) return Status::ok();
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::error(what_ + ": unreadable progress line from the Docker daemon");
  }
  std::string error = str(j, "error");
  if (error.empty()) error = str(obj(j, "errorDetail"), "message");
  if (!error.empty()) return Status::error(what_ + ": " + error);
  PullProgress p;
  p.layer_id = str(j, "id");
  p.status = str(j, "status");
  const json& detail = obj(j, "progressDetail");
  p.current_bytes = num(detail, "current");
  p.total_bytes = num(detail, "total");
  if (!p.status.empty()) last_status_ = p.status;
  if (on_progress_ && !p.status.empty()) on_progress_(p);
  return Status::ok();
}

}  // namespace kitgate::docker::api
