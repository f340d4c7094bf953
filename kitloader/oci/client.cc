#include "kitloader/oci/client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kitloader/oci/sha256.h"
#include "proxy/common/base64.h"

extern char** environ;

namespace kitgate::oci {

namespace {

using nlohmann::json;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::optional<std::string> readSmallFile(const std::string& path, size_t max) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::string data;
  char buf[8192];
  while (f.read(buf, sizeof(buf)) || f.gcount() > 0) {
    data.append(buf, static_cast<size_t>(f.gcount()));
    if (data.size() > max) return std::nullopt;
  }
  return data;
}

std::string dockerConfigDir(const ClientOptions& options) {
  if (!options.docker_config_dir.empty()) return options.docker_config_dir;
  if (const char* d = std::getenv("DOCKER_CONFIG"); d && *d) return d;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.docker";
}

// Runs `docker-credential-<helper> get` with the server URL on stdin (never
// in argv) and reads {"Username","Secret"} from stdout.
std::optional<Credential> runHelper(const std::string& helper, const std::string& server,
                                    std::string* error) {
  if (helper.empty() || helper.find('/') != std::string::npos) {
    *error = "invalid credential helper name \"" + helper + "\"";
    return std::nullopt;
  }
  std::string program = "docker-credential-" + helper;
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return std::nullopt;
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return std::nullopt;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::string get = "get";
  char* argv[] = {program.data(), get.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  if (rc != 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    *error = "credential helper " + program + " could not be started (configured in " +
             "docker config.json)";
    return std::nullopt;
  }
  std::string input = server + "\n";
  size_t off = 0;
  while (off < input.size()) {
    ssize_t n = ::write(in_pipe[1], input.data() + off, input.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::close(in_pipe[1]);
  std::string output;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(out_pipe[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (output.size() < (64u << 10)) output.append(buf, static_cast<size_t>(n));
  }
  ::close(out_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    // "credentials not found in native keychain" = anonymous.
    if (output.find("not found") != std::string::npos) return std::nullopt;
    *error = "credential helper " + program + " failed for " + server;
    return std::nullopt;
  }
  json j = json::parse(output, nullptr, false);
  if (!j.is_object() || !j.contains("Secret") || !j["Secret"].is_string()) {
    *error = "credential helper " + program + " returned no credential for " + server;
    return std::nullopt;
  }
  Credential c;
  c.username = j.value("Username", "");
  c.secret = j["Secret"].get<std::string>();
  c.origin = "credential helper " + program;
  return c;
}

// Keys Docker files a registry's login under.
std::vector<std::string> serverKeys(const std::string& registry) {
  if (registry == "docker.io") {
    return {"https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"};
  }
  return {registry, "https://" + registry, "http://" + registry, "https://" + registry + "/"};
}

std::optional<Credential> fromAuthEntry(const json& entry, const std::string& origin) {
  if (!entry.is_object()) return std::nullopt;
  Credential c;
  c.origin = origin;
  if (entry.contains("auth") && entry["auth"].is_string() &&
      !entry["auth"].get<std::string>().empty()) {
    auto decoded = base64Decode(entry["auth"].get<std::string>());
    if (!decoded) return std::nullopt;
    size_t colon = decoded->find(':');
    if (colon == std::string::npos) return std::nullopt;
    c.username = decoded->substr(0, colon);
    c.secret = decoded->substr(colon + 1);
    return c;
  }
  if (entry.contains("identitytoken") && entry["identitytoken"].is_string()) {
    c.username = "<token>";
    c.secret = entry["identitytoken"].get<std::string>();
    return c;
  }
  if (entry.contains("username") && entry.contains("password") && entry["username"].is_string() &&
      entry["password"].is_string()) {
    c.username = entry["username"].get<std::string>();
    c.secret = entry["password"].get<std::string>();
    return c;
  }
  return std::nullopt;
}

// Parses `Bearer realm="x",service="y"` into scheme + lower-case params.
std::string parseChallenge(std::string_view header, std::map<std::string, std::string>* params) {
  std::string_view rest = header;
  size_t sp = rest.find(' ');
  std::string scheme = lower(trim(rest.substr(0, sp)));
  if (sp == std::string_view::npos) return scheme;
  rest = rest.substr(sp + 1);
  while (!rest.empty()) {
    while (!rest.empty() && (rest.front() == ',' || rest.front() == ' ')) rest.remove_prefix(1);
    size_t eq = rest.find('=');
    if (eq == std::string_view::npos) break;
    std::string key = lower(trim(rest.substr(0, eq)));
    rest = rest.substr(eq + 1);
    std::string value;
    if (!rest.empty() && rest.front() == '"') {
      rest.remove_prefix(1);
      while (!rest.empty() && rest.front() != '"') {
        if (rest.front() == '\\' && rest.size() > 1) rest.remove_prefix(1);
        value.push_back(rest.front());
        rest.remove_prefix(1);
      }
      if (!rest.empty()) rest.remove_prefix(1);
    } else {
      size_t comma = rest.find(',');
      value = trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma);
    }
    (*params)[key] = value;
  }
  return scheme;
}

std::string urlEscape(CURL* curl, const std::string& s) {
  char* e = curl_easy_escape(curl, s.c_str(), static_cast<int>(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

struct Sink {
  std::string* body;
  size_t max;
  bool overflow = false;
};

size_t writeBody(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t len = size * n;
  if (sink->body->size() + len > sink->max) {
    sink->overflow = true;
    return 0;
  }
  sink->body->append(data, len);
  return len;
}

size_t writeHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) headers->clear();  // a new response (redirect)
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    (*headers)[lower(std::string(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  return size * n;
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

ClientOptions clientOptionsFromEnv() {
  ClientOptions o;
  if (const char* v = std::getenv("KITGATE_INSECURE_REGISTRIES")) {
    std::stringstream ss(v);
    std::string item;
    while (std::getline(ss, item, ',')) {
      item = trim(item);
      if (!item.empty()) o.insecure_registries.push_back(item);
    }
  }
  return o;
}

std::optional<Credential> findCredential(const std::string& registry, const ClientOptions& options,
                                         std::string* error) {
  auto keys = serverKeys(registry);
  if (!options.registry_auth_file.empty()) {
    if (auto text = readSmallFile(options.registry_auth_file, 1 << 20)) {
      json j = json::parse(*text, nullptr, false);
      if (j.is_object() && j.contains("auths") && j["auths"].is_object()) {
        for (const auto& k : keys) {
          if (j["auths"].contains(k)) {
            if (auto c = fromAuthEntry(j["auths"][k], "kitgate secret set --registry")) return c;
          }
        }
      }
    }
  }
  std::string dir = dockerConfigDir(options);
  auto text = readSmallFile(dir + "/config.json", 4 << 20);
  if (!text) return std::nullopt;
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  std::string server = registry == "docker.io" ? "https://index.docker.io/v1/" : registry;
  if (j.contains("credHelpers") && j["credHelpers"].is_object()) {
    for (const auto& k : keys) {
      if (j["credHelpers"].contains(k) && j["credHelpers"][k].is_string())
        return runHelper(j["credHelpers"][k].get<std::string>(), server, error);
    }
  }
  if (j.contains("auths") && j["auths"].is_object()) {
    for (const auto& k : keys) {
      if (j["auths"].contains(k)) {
        if (auto c = fromAuthEntry(j["auths"][k], dir + "/config.json")) return c;
      }
    }
  }
  if (j.contains("credsStore") && j["credsStore"].is_string() &&
      !j["credsStore"].get<std::string>().empty()) {
    return runHelper(j["credsStore"].get<std::string>(), server, error);
  }
  return std::nullopt;
}

struct Client::Curl {
  CURL* h = nullptr;
  Curl() : h(curl_easy_init()) {}
  ~Curl() {
    if (h) curl_easy_cleanup(h);
  }
};

Client::Client(Reference ref, ClientOptions options)
    : ref_(std::move(ref)), options_(std::move(options)), curl_(std::make_unique<Curl>()) {}

Client::~Client() {
  // The token and password leave memory with the client.
  std::fill(authorization_.begin(), authorization_.end(), '\0');
  if (credential_) std::fill(credential_->secret.begin(), credential_->secret.end(), '\0');
}

bool Client::send(const std::string& method, const std::string& path_or_url,
                  const std::vector<std::string>& headers, std::string_view body, size_t max_body,
                  Response* out, std::string* error) {
  CURL* h = curl_->h;
  if (!h) {
    *error = "cannot initialise libcurl";
    return false;
  }
  curl_easy_reset(h);
  std::string url = path_or_url.rfind("http", 0) == 0 ? path_or_url : base_ + path_or_url;
  out->status = 0;
  out->body.clear();
  out->headers.clear();
  Sink sink{&out->body, max_body};
  std::unique_ptr<curl_slist, SlistDeleter> list;
  for (const auto& hd : headers) list.reset(curl_slist_append(list.release(), hd.c_str()));
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, method == "GET" ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "kitgate");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, writeBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, writeHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &out->headers);
  if (list) curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());
  std::string host = ref_.apiHost();
  for (const std::string& dir :
       {dockerConfigDir(options_) + "/certs.d/" + host, "/etc/docker/certs.d/" + host}) {
    struct stat st {};
    if (::stat((dir + "/ca.crt").c_str(), &st) == 0) {
      curl_easy_setopt(h, CURLOPT_CAINFO, (dir + "/ca.crt").c_str());
      break;
    }
  }
  if (method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    if (sink.overflow) {
      *error = "registry " + ref_.registry + " sent more than " + std::to_string(max_body >> 20) +
               " MiB for " + ref_.str() + "; refusing it";
    } else {
      // curl's message names the host and the failure, never a header value.
      *error = "registry " + ref_.registry + ": " + curl_easy_strerror(rc);
      if (rc == CURLE_PEER_FAILED_VERIFICATION) {
        *error += " (its certificate is not trusted; put its CA in " + dockerConfigDir(options_) +
                  "/certs.d/" + host + "/ca.crt)";
      }
    }
    out->status = -static_cast<long>(rc);
    return false;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
  return true;
}

bool Client::chooseScheme(std::string* error) {
  if (!base_.empty()) return true;
  std::string host = ref_.apiHost();
  bool insecure_ok =
      isLoopbackRegistry(host) ||
      std::find(options_.insecure_registries.begin(), options_.insecure_registries.end(),
                ref_.registry) != options_.insecure_registries.end();
  base_ = "https://" + host;
  Response r;
  if (send("GET", "/v2/", {}, {}, 1 << 16, &r, error)) return true;
  if (insecure_ok && (r.status == -static_cast<long>(CURLE_SSL_CONNECT_ERROR) ||
                      r.status == -static_cast<long>(CURLE_RECV_ERROR))) {
    base_ = "http://" + host;
    error->clear();
    if (send("GET", "/v2/", {}, {}, 1 << 16, &r, error)) return true;
  }
  base_.clear();
  return false;
}

bool Client::authenticate(const std::string& challenge, std::string* error) {
  if (!credential_looked_up_) {
    credential_looked_up_ = true;
    std::string helper_error;
    credential_ = findCredential(ref_.registry, options_, &helper_error);
    if (!helper_error.empty()) {
      *error = helper_error;
      return false;
    }
  }
  std::map<std::string, std::string> params;
  std::string scheme = parseChallenge(challenge, &params);
  if (scheme == "basic") {
    if (!credential_) return true;  // the caller reports "authentication required"
    authorization_ =
        "Authorization: Basic " + base64Encode(credential_->username + ":" + credential_->secret);
    return true;
  }
  if (scheme != "bearer" || params["realm"].empty()) {
    *error = "registry " + ref_.registry + " asks for an unsupported authentication scheme \"" +
             scheme + "\"";
    return false;
  }
  std::string url = params["realm"];
  if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0) {
    *error = "registry " + ref_.registry + " names an invalid token realm";
    return false;
  }
  std::string scope = "repository:" + ref_.repository + (push_ ? ":pull,push" : ":pull");
  url += url.find('?') == std::string::npos ? "?" : "&";
  if (!params["service"].empty()) url += "service=" + urlEscape(curl_->h, params["service"]) + "&";
  url += "scope=" + urlEscape(curl_->h, scope);
  std::vector<std::string> headers;
  if (credential_) {
    headers.push_back("Authorization: Basic " +
                      base64Encode(credential_->username + ":" + credential_->secret));
  }
  Response r;
  bool ok = send("GET", url, headers, {}, 1 << 20, &r, error);
  for (auto& hd : headers) std::fill(hd.begin(), hd.end(), '\0');
  if (!ok) return false;
  if (r.status == 401 || r.status == 403) {
    *error = credential_
                 ? "registry " + ref_.registry + ": authentication failed for user \"" +
                       credential_->username + "\" (credential from " + credential_->origin + ")"
                 : "registry " + ref_.registry +
                       " requires a login: run 'kitgate secret set --registry " + ref_.registry +
                       "' or 'docker login " + ref_.registry + "'";
    return false;
  }
  json j = json::parse(r.body, nullptr, false);
  std::string token;
  if (j.is_object()) {
    if (j.contains("token") && j["token"].is_string()) token = j["token"].get<std::string>();
    if (token.empty() && j.contains("access_token") && j["access_token"].is_string())
      token = j["access_token"].get<std::string>();
  }
  if (r.status != 200 || token.empty()) {
    *error = "registry " + ref_.registry + ": the token service answered HTTP " +
             std::to_string(r.status) + " without a token";
    return false;
  }
  authorization_ = "Authorization: Bearer " + token;
  std::fill(token.begin(), token.end(), '\0');
  return true;
}

bool Client::request(const std::string& method, const std::string& path_or_url,
                     std::vector<std::string> headers, std::string_view body, size_t max_body,
                     Response* out, std::string* error) {
  if (!chooseScheme(error)) return false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::vector<std::string> all = headers;
    if (!authorization_.empty()) all.push_back(authorization_);
    bool ok = send(method, path_or_url, all, body, max_body, out, error);
    for (auto& hd : all) std::fill(hd.begin(), hd.end(), '\0');
    if (!ok) return false;
    if (out->status != 401) return true;
    if (attempt == 1) break;
    std::string had = authorization_;
    if (!authenticate(out->headers["www-authenticate"], error)) return false;
    if (authorization_.empty() || authorization_ == had) break;
  }
  if (credential_) {
    *error = "registry " + ref_.registry + ": authentication failed for user \"" +
             credential_->username + "\" (credential from " + credential_->origin + ")";
  } else {
    *error = "registry " + ref_.registry +
             " requires a login: run 'kitgate secret set --registry " + ref_.registry +
             "' or 'docker login " + ref_.registry + "'";
  }
  return false;
}

std::string Client::httpError(const Response& r, const std::string& what) const {
  std::string msg =
      "registry " + ref_.registry + ": " + what + ": HTTP " + std::to_string(r.status);
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("errors") && j["errors"].is_array() && !j["errors"].empty() &&
      j["errors"][0].is_object()) {
    const json& e = j["errors"][0];
    if (e.contains("code") && e["code"].is_string()) msg += " " + e["code"].get<std::string>();
    if (e.contains("message") && e["message"].is_string())
      msg += " (" + e["message"].get<std::string>() + ")";
  }
  return msg;
}

bool Client::fetchManifest(const std::string& at, Manifest* out, bool* not_found,
                           std::string* error) {
  Response r;
  std::vector<std::string> headers = {
      "Accept: application/vnd.oci.image.manifest.v1+json, "
      "application/vnd.docker.distribution.manifest.v2+json, "
      "application/vnd.oci.image.index.v1+json"};
  if (!request("GET", "/v2/" + ref_.repository + "/manifests/" + at, headers, {}, kMaxManifestBytes,
               &r, error)) {
    return false;
  }
  if (not_found) *not_found = r.status == 404;
  std::string shown = ref_.name() + (validDigest(at) ? "@" : ":") + at;
  if (r.status == 404) {
    *error = "kit " + shown + " not found in registry " + ref_.registry;
    return false;
  }
  if (r.status != 200) {
    *error = httpError(r, "cannot fetch the manifest of " + shown);
    return false;
  }
  out->bytes = std::move(r.body);
  out->digest = sha256Digest(out->bytes);
  out->media_type = r.headers["content-type"];
  if (validDigest(at) && out->digest != at) {
    *error = "the manifest of " + shown + " has digest " + out->digest +
             ", not the one the reference pins; refusing it";
    return false;
  }
  auto it = r.headers.find("docker-content-digest");
  if (it != r.headers.end() && validDigest(it->second) && it->second != out->digest) {
    *error = "the manifest of " + shown + " does not match the digest the registry sent (" +
             it->second + "); refusing it";
    return false;
  }
  return true;
}

bool Client::getManifest(Manifest* out, std::string* error) {
  if (!fetchManifest(ref_.manifestRef(), out, nullptr, error)) {
    // Name the reference as the user wrote it (tag and digest).
    if (!ref_.digest.empty() && !ref_.tag.empty()) {
      std::string pinned = ref_.name() + "@" + ref_.digest;
      if (size_t at = error->find(pinned); at != std::string::npos)
        error->replace(at, pinned.size(), ref_.str());
    }
    return false;
  }
  return true;
}

bool Client::getManifestByDigest(const std::string& digest, Manifest* out, std::string* error) {
  if (!validDigest(digest)) {
    *error = "invalid manifest digest \"" + digest + "\"";
    return false;
  }
  return fetchManifest(digest, out, nullptr, error);
}

bool Client::referrers(const std::string& subject_digest, const std::string& artifact_type,
                       std::vector<std::string>* digests, std::string* error) {
  digests->clear();
  if (!validDigest(subject_digest)) {
    *error = "invalid manifest digest \"" + subject_digest + "\"";
    return false;
  }
  Response r;
  if (!request("GET", "/v2/" + ref_.repository + "/referrers/" + subject_digest, {}, {},
               kMaxManifestBytes, &r, error)) {
    return false;
  }
  std::string index;
  if (r.status == 200 && r.headers["content-type"].find(
                             "application/vnd.oci.image.index.v1+json") != std::string::npos) {
    index = std::move(r.body);
  } else {
    // The tag schema: sha256:<hex> -> tag sha256-<hex>.
    Manifest m;
    bool not_found = false;
    std::string tag = "sha256-" + subject_digest.substr(7);
    if (!fetchManifest(tag, &m, &not_found, error)) {
      if (not_found) {
        error->clear();
        return true;
      }
      return false;
    }
    index = std::move(m.bytes);
  }
  json j = json::parse(index, nullptr, false);
  if (!j.is_object() || !j.contains("manifests") || !j["manifests"].is_array()) {
    *error = "registry " + ref_.registry + " answered an invalid referrers index for " +
             ref_.name() + "@" + subject_digest;
    return false;
  }
  for (const json& d : j["manifests"]) {
    if (!d.is_object() || d.value("artifactType", "") != artifact_type) continue;
    std::string digest = d.value("digest", "");
    if (validDigest(digest)) digests->push_back(digest);
  }
  return true;
}

bool Client::storeManifest(const std::string& at, std::string_view bytes,
                           const std::string& media_type, Response* r, std::string* error) {
  push_ = true;
  if (!request("PUT", "/v2/" + ref_.repository + "/manifests/" + at,
               {"Content-Type: " + media_type}, bytes, 1 << 16, r, error)) {
    return false;
  }
  if (r->status != 201) {
    *error = httpError(
        *r, "cannot push the manifest of " + ref_.name() + (validDigest(at) ? "@" : ":") + at);
    return false;
  }
  return true;
}

bool Client::putManifest(std::string_view bytes, const std::string& media_type,
                         std::string* error) {
  Response r;
  return storeManifest(ref_.manifestRef(), bytes, media_type, &r, error);
}

bool Client::pushReferrer(std::string_view manifest, const std::string& subject_digest,
                          const std::string& artifact_type, std::string* error) {
  constexpr std::string_view kManifest = "application/vnd.oci.image.manifest.v1+json";
  constexpr std::string_view kIndex = "application/vnd.oci.image.index.v1+json";
  if (!validDigest(subject_digest)) {
    *error = "invalid manifest digest \"" + subject_digest + "\"";
    return false;
  }
  std::string digest = sha256Digest(manifest);
  Response r;
  if (!storeManifest(digest, manifest, std::string(kManifest), &r, error)) return false;
  if (r.headers.count("oci-subject") != 0) return true;  // the registry indexes referrers
  std::string tag = "sha256-" + subject_digest.substr(7);
  Manifest current;
  bool not_found = false;
  json index = {{"schemaVersion", 2}, {"mediaType", kIndex}, {"manifests", json::array()}};
  if (fetchManifest(tag, &current, &not_found, error)) {
    json j = json::parse(current.bytes, nullptr, false);
    if (j.is_object() && j.contains("manifests") && j["manifests"].is_array()) index = j;
  } else if (!not_found) {
    return false;
  }
  error->clear();
  json kept = json::array();
  for (const json& d : index["manifests"]) {
    if (!d.is_object() || d.value("digest", "") != digest) kept.push_back(d);
  }
  kept.push_back({{"mediaType", kManifest},
                  {"digest", digest},
                  {"size", manifest.size()},
                  {"artifactType", artifact_type}});
  index["manifests"] = kept;
  return storeManifest(tag, index.dump(), std::string(kIndex), &r, error);
}

bool Client::getBlob(const std::string& digest, std::string* out, std::string* error) {
  if (!validDigest(digest)) {
    *error = "the manifest of " + ref_.str() + " names an invalid digest";
    return false;
  }
  Response r;
  if (!request("GET", "/v2/" + ref_.repository + "/blobs/" + digest, {}, {}, kMaxBlobBytes, &r,
               error)) {
    return false;
  }
  if (r.status != 200) {
    *error = httpError(r, "cannot fetch blob " + digest + " of " + ref_.str());
    return false;
  }
  if (sha256Digest(r.body) != digest) {
    *error = "blob " + digest + " of " + ref_.str() +
             " does not match its digest (tampered or corrupt); refusing the kit";
    return false;
  }
  *out = std::move(r.body);
  return true;
}

bool Client::pushBlob(std::string_view data, const std::string& digest, std::string* error) {
  push_ = true;
  Response r;
  if (!request("HEAD", "/v2/" + ref_.repository + "/blobs/" + digest, {}, {}, 1 << 16, &r, error))
    return false;
  if (r.status == 200) return true;
  if (!request("POST", "/v2/" + ref_.repository + "/blobs/uploads/", {"Content-Length: 0"}, {},
               1 << 16, &r, error)) {
    return false;
  }
  if (r.status != 202 || r.headers["location"].empty()) {
    *error = httpError(r, "cannot start an upload to " + ref_.name());
    return false;
  }
  std::string location = r.headers["location"];
  if (location.rfind("http", 0) != 0) location = base_ + location;
  location += location.find('?') == std::string::npos ? "?" : "&";
  location += "digest=" + urlEscape(curl_->h, digest);
  if (!request("PUT", location, {"Content-Type: application/octet-stream"}, data, 1 << 16, &r,
               error)) {
    return false;
  }
  if (r.status != 201) {
    *error = httpError(r, "cannot upload blob " + digest + " to " + ref_.name());
    return false;
  }
  return true;
}

}  // namespace kitgate::oci
