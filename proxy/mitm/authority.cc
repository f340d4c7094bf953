#include "proxy/mitm/authority.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "proxy/tls/ca.h"
#include "proxy/tls/name_constraints.h"

namespace kitgate::mitm {

std::string constraintPattern(std::string_view pattern) {
  // The fixed suffix is everything after the last whole `*` label that is not
  // the first label; a leading `*.`/`**.` is X.509-expressible on its own.
  size_t last_star = std::string_view::npos;
  for (size_t pos = pattern.find(".*."); pos != std::string_view::npos;
       pos = pattern.find(".*.", pos + 1)) {
    last_star = pos;
  }
  if (last_star == std::string_view::npos) return std::string(pattern);
  return "**." + std::string(pattern.substr(last_star + 3));
}

std::optional<std::string> allowedConstraintPattern(const policy::Rule& rule) {
  using Kind = policy::Rule::Kind;
  switch (rule.kind) {
    case Kind::kAnyHost:
      return std::nullopt;
    case Kind::kExact:
      return rule.pattern;
    case Kind::kSingleWildcard:
      return "*." + rule.pattern;
    case Kind::kMultiWildcard:
      return "**." + rule.pattern;
    case Kind::kCidr: {
      const int full = rule.network.isV4() ? 32 : 128;
      if (rule.prefix_len != full) return std::nullopt;
      return rule.network.toString();
    }
    case Kind::kGlob: {
      // Everything after the last label holding a glob character.
      const std::string_view host = rule.pattern;
      const size_t glob = host.find_last_of("*?[]");
      const size_t dot = host.find('.', glob == std::string_view::npos ? 0 : glob);
      if (dot == std::string_view::npos || dot + 1 >= host.size()) return std::nullopt;
      return "**." + std::string(host.substr(dot + 1));
    }
  }
  return std::nullopt;
}

namespace {

// Whether every subtree of `want` lies inside one of `ca`'s.
bool covers(const tls::NameConstraints& ca, const tls::NameConstraints& want) {
  for (const std::string& d : want.permitted_dns) {
    const bool inside =
        std::any_of(ca.permitted_dns.begin(), ca.permitted_dns.end(), [&](const std::string& c) {
          return d == c || d.ends_with(c.starts_with('.') ? c : "." + c);
        });
    if (!inside) return false;
  }
  for (const std::string& ip : want.permitted_ips) {
    if (std::find(ca.permitted_ips.begin(), ca.permitted_ips.end(), ip) == ca.permitted_ips.end()) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> outsideOf(const tls::NameConstraints& ca,
                                   const std::vector<std::string>& intercepted) {
  std::vector<std::string> out;
  for (const std::string& p : intercepted) {
    auto want = tls::nameConstraintsFor({constraintPattern(p)});
    if (!want || !covers(ca, *want)) out.push_back(p);
  }
  return out;
}

}  // namespace

StatusOr<AuthorityResult> loadOrCreateAuthority(const std::string& ca_dir,
                                                const std::string& sandbox,
                                                const AuthorityPatterns& patterns,
                                                const tls::LeafOptions& leaf_options) {
  AuthorityResult out;
  std::vector<std::string> host_patterns;
  for (const std::string& p : patterns.allowed) host_patterns.push_back(constraintPattern(p));
  for (const std::string& p : patterns.intercepted) host_patterns.push_back(constraintPattern(p));
  if (host_patterns.empty()) return out;
  std::error_code ec;
  std::filesystem::create_directories(ca_dir, ec);
  if (ec) return Status::error("cannot create CA directory " + ca_dir + ": " + ec.message());
  ::chmod(ca_dir.c_str(), 0700);

  out.cert_path = ca_dir + "/" + sandbox + ".crt";
  const std::string key_path = ca_dir + "/" + sandbox + ".key";
  std::optional<tls::CertificateAuthority> ca;
  if (std::filesystem::exists(out.cert_path) && std::filesystem::exists(key_path)) {
    auto loaded = tls::CertificateAuthority::load(out.cert_path, key_path);
    if (!loaded) return Status::error("sandbox " + sandbox + ": " + loaded.status().message());
    ca.emplace(std::move(loaded.value()));
  } else {
    auto wanted = tls::nameConstraintsFor(host_patterns);
    if (!wanted) return Status::error("sandbox " + sandbox + ": " + wanted.status().message());
    tls::CaOptions opts;
    opts.permitted_hosts = host_patterns;
    opts.common_name = "kitgate sandbox " + sandbox + " interception CA";
    auto created = tls::CertificateAuthority::create(opts);
    if (!created) return Status::error("sandbox " + sandbox + ": " + created.status().message());
    Status st = created->save(out.cert_path, key_path);
    if (!st) return st;
    ca.emplace(std::move(created.value()));
    out.created = true;
  }
  out.outside = outsideOf(ca->constraints(), patterns.intercepted);
  // Advisory (the CLI's restart warning): a failure to write it changes nothing here.
  const std::string outside_path = ca_dir + "/" + sandbox + ".outside";
  if (out.outside.empty()) {
    ::unlink(outside_path.c_str());
  } else {
    std::string lines;
    for (const std::string& p : out.outside) lines += p + "\n";
    (void)tls::writeFileAtomically(outside_path, lines, 0644);
  }
  auto minter = tls::LeafMinter::create(*ca, leaf_options);
  if (!minter) return minter.status();
  out.minter = std::move(minter.value());
  return out;
}

}  // namespace kitgate::mitm
