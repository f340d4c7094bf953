#include "orchestrator/cli/kit_settings.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "kitloader/oci/client.h"
#include "kitloader/oci/reference.h"
#include "kitloader/sign/sign.h"
#include "orchestrator/state/state.h"
#include "proxy/common/base64.h"

namespace kitgate::cli {

namespace {

using nlohmann::json;

std::vector<std::string> commaList(std::string_view text) {
  std::vector<std::string> out;
  std::stringstream ss{std::string(text)};
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t a = item.find_first_not_of(" \t");
    size_t b = item.find_last_not_of(" \t");
    if (a != std::string::npos) out.push_back(item.substr(a, b - a + 1));
  }
  return out;
}

// settings["kit.allowLocalKits"] or settings["kit"]["allowLocalKits"].
const json* lookup(const json& settings, const std::string& section, const std::string& key) {
  if (auto it = settings.find(section + "." + key); it != settings.end()) return &*it;
  if (auto sec = settings.find(section); sec != settings.end() && sec->is_object()) {
    if (auto it = sec->find(key); it != sec->end()) return &*it;
  }
  return nullptr;
}

bool stringList(const json& v, std::vector<std::string>* out) {
  if (!v.is_array()) return false;
  out->clear();
  for (const json& e : v) {
    if (!e.is_string()) return false;
    out->push_back(e.get<std::string>());
  }
  return true;
}

// "true"/"1" or "false"/"0"; nullopt otherwise.
std::optional<bool> envBool(std::string_view s) {
  if (s == "true" || s == "1") return true;
  if (s == "false" || s == "0") return false;
  return std::nullopt;
}

std::string badSigner(const std::vector<std::string>& signers, const std::string& where) {
  for (const std::string& s : signers) {
    if (!sign::validFingerprint(s)) {
      return where + ": kit.trustedSigners entry \"" + s +
             "\" is not a key fingerprint (sha256:<64 hex>; 'kitgate kit verify' prints it)";
    }
  }
  return "";
}

std::string registryLoginsFile() { return state::defaultPaths().root + "/registries.json"; }

}  // namespace

std::string registryAuthForImage(const std::string& image) {
  if (image.rfind("sha256:", 0) == 0) return "";  // an image id names no registry
  std::string error;
  auto ref = oci::parseReference(image, &error);
  if (!ref) return "";
  oci::ClientOptions options = oci::clientOptionsFromEnv();
  options.registry_auth_file = registryLoginsFile();
  auto credential = oci::findCredential(ref->registry, options, &error);
  if (!credential) return "";
  std::string server = ref->registry == "docker.io" ? "https://index.docker.io/v1/" : ref->registry;
  json auth = credential->username == "<token>"
                  ? json{{"identitytoken", credential->secret}, {"serveraddress", server}}
                  : json{{"username", credential->username},
                         {"password", credential->secret},
                         {"serveraddress", server}};
  std::string text = auth.dump();
  std::string encoded = base64Encode(text);
  std::fill(text.begin(), text.end(), '\0');
  std::fill(credential->secret.begin(), credential->secret.end(), '\0');
  // The daemon decodes base64url.
  for (char& c : encoded) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return encoded;
}

std::string kitSettingsPath() {
  if (const char* p = std::getenv("KITGATE_SETTINGS"); p && *p) return p;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x)
    return std::string(x) + "/kitgate/settings.json";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.config/kitgate/settings.json";
}

std::string signatureProblem(const kit::KitContent& content,
                             const std::vector<std::string>& trusted,
                             const kit::LoadOptions& registry) {
  sign::Verified verified;
  std::string problem = sign::verifyContent(content, trusted, registry, &verified);
  if (problem.empty()) return "";
  return problem + " (kit.requireSignature is on)";
}

std::string applyKitSettings(kit::LoadOptions* options, SignatureSettings* signatures) {
  kit::SourcePolicy policy;
  SignatureSettings sig;
  std::string path = kitSettingsPath();
  std::ifstream in(path);
  if (in) {
    std::stringstream buf;
    buf << in.rdbuf();
    json settings = json::parse(buf.str(), nullptr, false);
    if (!settings.is_object()) return "settings file " + path + " is not a JSON object";
    if (const json* v = lookup(settings, "kit", "allowLocalKits")) {
      if (!v->is_boolean()) return path + ": kit.allowLocalKits must be true or false";
      policy.allow_local = v->get<bool>();
    }
    if (const json* v = lookup(settings, "kit", "allowedSources")) {
      if (!stringList(*v, &policy.allowed))
        return path + ": kit.allowedSources must be a list of strings";
    }
    if (const json* v = lookup(settings, "kit", "requireSignature")) {
      if (!v->is_boolean()) return path + ": kit.requireSignature must be true or false";
      sig.required = v->get<bool>();
    }
    if (const json* v = lookup(settings, "kit", "trustedSigners")) {
      if (!stringList(*v, &sig.trusted))
        return path + ": kit.trustedSigners must be a list of strings";
      if (std::string e = badSigner(sig.trusted, path); !e.empty()) return e;
    }
    if (const json* v = lookup(settings, "registry", "insecure")) {
      if (!stringList(*v, &options->insecure_registries))
        return path + ": registry.insecure must be a list of strings";
    }
  }
  if (const char* v = std::getenv("DOCKER_SANDBOXES_KIT_ALLOW_LOCAL"); v && *v) {
    auto b = envBool(v);
    if (!b) return "DOCKER_SANDBOXES_KIT_ALLOW_LOCAL must be true or false";
    policy.allow_local = *b;
  }
  if (const char* v = std::getenv("DOCKER_SANDBOXES_KIT_REQUIRE_SIGNATURE"); v && *v) {
    auto b = envBool(v);
    if (!b) return "DOCKER_SANDBOXES_KIT_REQUIRE_SIGNATURE must be true or false";
    sig.required = *b;
  }
  if (const char* v = std::getenv("DOCKER_SANDBOXES_KIT_TRUSTED_SIGNERS"); v && *v) {
    sig.trusted = commaList(v);
    if (std::string e = badSigner(sig.trusted, "DOCKER_SANDBOXES_KIT_TRUSTED_SIGNERS"); !e.empty())
      return e;
  }
  if (const char* v = std::getenv("DOCKER_SANDBOXES_KIT_ALLOWED_SOURCES"); v && *v)
    policy.allowed = commaList(v);
  options->source_policy = policy;
  options->registry_auth_file = registryLoginsFile();
  if (sig.required) {
    kit::LoadOptions registry;
    registry.registry_auth_file = options->registry_auth_file;
    registry.insecure_registries = options->insecure_registries;
    options->check_signature = [registry, trusted = sig.trusted](const kit::KitContent& c) {
      return signatureProblem(c, trusted, registry);
    };
  }
  if (signatures) *signatures = sig;
  return "";
}

}  // namespace kitgate::cli
