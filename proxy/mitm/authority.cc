#include "proxy/mitm/authority.h"

#include <sys/stat.h>

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

StatusOr<AuthorityResult> loadOrCreateAuthority(const std::string& ca_dir, const std::string& sandbox,
                                                const std::vector<std::string>& patterns,
                                                const tls::LeafOptions& leaf_options) {
  std::vector<std::string> host_patterns;
  for (const std::string& p : patterns) host_patterns.push_back(constraintPattern(p));
  auto wanted = tls::nameConstraintsFor(host_patterns);
  if (!wanted) return Status::error("sandbox " + sandbox + ": " + wanted.status().message());
  std::error_code ec;
  std::filesystem::create_directories(ca_dir, ec);
  if (ec) return Status::error("cannot create CA directory " + ca_dir + ": " + ec.message());
  ::chmod(ca_dir.c_str(), 0700);

  AuthorityResult out;
  out.cert_path = ca_dir + "/" + sandbox + ".crt";
  const std::string key_path = ca_dir + "/" + sandbox + ".key";
  std::optional<tls::CertificateAuthority> ca;
  if (std::filesystem::exists(out.cert_path) && std::filesystem::exists(key_path)) {
    auto loaded = tls::CertificateAuthority::load(out.cert_path, key_path);
    if (!loaded) return Status::error("sandbox " + sandbox + ": " + loaded.status().message());
    if (loaded->constraints() == wanted.value()) ca.emplace(std::move(loaded.value()));
  }
  if (!ca) {
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
  auto minter = tls::LeafMinter::create(*ca, leaf_options);
  if (!minter) return minter.status();
  out.minter = std::move(minter.value());
  return out;
}

}  // namespace kitgate::mitm
