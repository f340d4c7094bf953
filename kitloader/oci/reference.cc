#include "kitloader/oci/reference.h"

#include <algorithm>
#include <cctype>

namespace kitgate::oci {

namespace {

bool repoChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
         c == '/';
}

bool validRepository(std::string_view repo) {
  if (repo.empty() || repo.front() == '/' || repo.back() == '/') return false;
  if (repo.find("//") != std::string_view::npos) return false;
  return std::all_of(repo.begin(), repo.end(), repoChar);
}

bool validTag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(tag[0])) return false;
  return std::all_of(tag.begin(), tag.end(),
                     [&](char c) { return word(c) || c == '.' || c == '-'; });
}

std::string hostPart(std::string_view registry) {
  std::string_view host = registry;
  if (!host.empty() && host[0] == '[') {
    size_t close = host.find(']');
    return std::string(host.substr(1, close == std::string_view::npos ? host.npos : close - 1));
  }
  size_t colon = host.rfind(':');
  if (colon != std::string_view::npos) host = host.substr(0, colon);
  return std::string(host);
}

}  // namespace

bool validDigest(std::string_view digest) {
  if (digest.size() != 7 + 64 || digest.substr(0, 7) != "sha256:") return false;
  return std::all_of(digest.begin() + 7, digest.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool isLoopbackRegistry(std::string_view registry) {
  std::string host = hostPart(registry);
  if (host == "localhost" || host == "::1") return true;
  if (host.rfind("127.", 0) != 0) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (!std::isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return dots == 3;
}

std::string Reference::apiHost() const {
  return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

std::string Reference::name() const { return registry + "/" + repository; }

std::string Reference::str() const {
  std::string out = name();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::optional<Reference> parseReference(std::string_view text, std::string* error) {
  std::string_view rest = text;
  if (rest.rfind("oci://", 0) == 0) rest.remove_prefix(6);
  Reference ref;
  // `user:password@host/...` : never echoed.
  size_t at_sign = rest.find('@');
  bool userinfo = at_sign != std::string_view::npos && at_sign < rest.find('/');
  std::string shown = userinfo ? std::string(rest.substr(at_sign + 1)) : std::string(text);
  auto fail = [&](std::string why) -> std::optional<Reference> {
    *error = "invalid OCI reference \"" + shown + "\": " + why;
    return std::nullopt;
  };
  if (userinfo) {
    return fail(
        "credentials do not belong in a kit reference; use 'kitgate secret set --registry' or "
        "'docker login'");
  }
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!validDigest(ref.digest))
      return fail("the digest must be sha256: and 64 lowercase hex digits");
  }
  size_t slash = rest.find('/');
  std::string_view first =
      slash == std::string_view::npos ? std::string_view() : rest.substr(0, slash);
  if (!first.empty() &&
      (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
       first == "localhost" || first.front() == '[')) {
    ref.registry = std::string(first);
    rest = rest.substr(slash + 1);
  } else {
    ref.registry = "docker.io";
  }
  if (ref.registry == "index.docker.io" || ref.registry == "registry-1.docker.io")
    ref.registry = "docker.io";
  size_t last_slash = rest.rfind('/');
  size_t colon = rest.find(':', last_slash == std::string_view::npos ? 0 : last_slash);
  if (colon != std::string_view::npos) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!validTag(ref.tag)) return fail("the tag \"" + ref.tag + "\" is not a valid tag");
  }
  ref.repository = std::string(rest);
  if (!validRepository(ref.repository))
    return fail("the repository must be lowercase letters, digits and . _ - /");
  if (ref.registry == "docker.io" && ref.repository.find('/') == std::string::npos)
    ref.repository = "library/" + ref.repository;
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

}  // namespace kitgate::oci
