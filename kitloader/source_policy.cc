// Source policy (kit-spec §3.2): kit.allowLocalKits gates directories, ZIPs
// and git+file:// repositories; kit.allowedSources gates remote references by
// prefix on a path-segment boundary (`docker.io/acme` admits
// `docker.io/acme/kit` but not `docker.io/acme-evil`); "*" admits all. OCI
// references are matched as registry/repository (docker.io/ made explicit),
// git URLs as host/path.
#include "kitloader/kit.h"
#include "kitloader/oci/reference.h"

namespace kitgate::kit {

namespace {

bool prefixOnBoundary(std::string_view candidate, std::string_view prefix) {
  if (prefix.empty()) return false;
  if (candidate.substr(0, prefix.size()) != prefix) return false;
  if (prefix.back() == '/' || candidate.size() == prefix.size()) return true;
  char next = candidate[prefix.size()];
  return next == '/' || next == ':' || next == '@' || next == '#';
}

// git+https://user@host/org/repo.git#... -> host/org/repo.git
std::string gitHostPath(std::string_view ref) {
  std::string_view rest = ref.substr(4);
  size_t scheme = rest.find("://");
  if (scheme != std::string_view::npos) rest = rest.substr(scheme + 3);
  if (size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  size_t slash = rest.find('/');
  size_t at = rest.find('@');
  if (at != std::string_view::npos && at < slash) rest = rest.substr(at + 1);
  std::string out(rest);
  // scp-like git@host:org/repo
  if (size_t colon = out.find(':'); colon != std::string::npos && colon < out.find('/'))
    out[colon] = '/';
  return out;
}

}  // namespace

std::string sourcePolicyProblem(std::string_view ref, const SourcePolicy& policy) {
  bool git = ref.rfind("git+", 0) == 0;
  bool local = (git && ref.rfind("git+file://", 0) == 0) || (!git && !isOciReference(ref));
  std::string shown = redactReference(ref);
  if (local) {
    if (policy.allow_local) return "";
    return "kit \"" + shown +
           "\" cannot be installed — local kits are disabled (kit.allowLocalKits is false)";
  }
  std::string candidate;
  if (git) {
    candidate = gitHostPath(ref);
  } else {
    std::string error;
    auto parsed = oci::parseReference(ref, &error);
    if (!parsed) return error;
    candidate = parsed->str();
  }
  for (const std::string& p : policy.allowed) {
    if (p == "*") return "";
    std::string prefix = p;
    if (!git && prefix.find('/') != std::string::npos) {
      // Normalise an OCI prefix the way references are (Docker Hub names).
      std::string_view first = std::string_view(prefix).substr(0, prefix.find('/'));
      if (first.find('.') == std::string_view::npos && first.find(':') == std::string_view::npos &&
          first != "localhost")
        prefix = "docker.io/" + prefix;
    }
    if (prefixOnBoundary(candidate, prefix)) return "";
  }
  return "kit \"" + shown +
         "\" cannot be installed — its source is not in your allowlist\n"
         "hint: add its registry or repository prefix to kit.allowedSources in kitgate's "
         "settings file (or DOCKER_SANDBOXES_KIT_ALLOWED_SOURCES)";
}

}  // namespace kitgate::kit
