// Helpers for the TLS tests and the TLS micro-bench: a test CA, a connected
// non-blocking socketpair, and a loop that drives a client and a server
// TlsStream in one thread until both handshakes finish. Single-threaded.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proxy/common/unique_fd.h"
#include "proxy/tls/ca.h"
#include "proxy/tls/leaf_cache.h"
#include "proxy/tls/tls_stream.h"

namespace kitgate::tls::testing {

// A connected AF_UNIX stream pair, both ends non-blocking.
inline std::pair<UniqueFd, UniqueFd> socketPair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

struct PumpResult {
  IoResult client;
  IoResult server;
  bool ok() const { return client.ok() && server.ok(); }
};

// Alternates handshake() on both ends until each is done or failed (a side
// that failed is not called again, so the other sees its alert). Bounded: a
// socketpair never blocks, so a stuck handshake ends as kWantRead.
inline PumpResult handshakeBoth(TlsStream& client, TlsStream& server) {
  PumpResult r{{IoStatus::kWantWrite, 0, {}}, {IoStatus::kWantRead, 0, {}}};
  const auto waiting = [](const IoResult& x) {
    return x.status == IoStatus::kWantRead || x.status == IoStatus::kWantWrite;
  };
  for (int round = 0; round < 64 && (waiting(r.client) || waiting(r.server)); ++round) {
    if (waiting(r.client)) r.client = client.handshake();
    if (waiting(r.server)) r.server = server.handshake();
  }
  return r;
}

// Writes all of `data` on `from` and reads it on `to` (small payloads).
inline std::string transfer(TlsStream& from, TlsStream& to, const std::string& data) {
  size_t sent = 0;
  std::string got;
  char buf[16384];
  for (int round = 0; round < 4096 && got.size() < data.size(); ++round) {
    if (sent < data.size()) {
      IoResult w = from.write(data.data() + sent, data.size() - sent);
      if (w.ok()) sent += w.bytes;
    }
    IoResult rd = to.read(buf, sizeof(buf));
    if (rd.ok()) got.append(buf, rd.bytes);
    if (rd.status == IoStatus::kError || rd.status == IoStatus::kClosed) break;
  }
  return got;
}

// A fresh directory under the temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "kitgate-tls-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    path_ = templ;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const char* name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Runs a shell command (fixed test commands only); returns stdout+stderr and
// the exit status in *status.
inline std::string run(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 512> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  *status = ::pclose(p);
  return out;
}

// A self-signed server certificate for `host` (no CA involved), as a Leaf.
inline Leaf selfSignedLeaf(const std::string& host) {
  StatusOr<EvpPkeyPtr> key = generateP256Key();
  StatusOr<X509NamePtr> name = makeName(host);
  X509Ptr cert(X509_new());
  if (!key || !name || !cert) std::abort();
  X509_set_version(cert.get(), 2);
  X509_set_subject_name(cert.get(), name->get());
  X509_set_issuer_name(cert.get(), name->get());
  X509_set_pubkey(cert.get(), key->get());
  bool ok = setRandomSerial(cert.get()).isOk() &&
            setValidity(cert.get(), std::chrono::system_clock::now(), std::chrono::hours(1),
                        std::chrono::hours(24))
                .isOk();
  const std::string san = "DNS:" + host;
  // No keyUsage: with one lacking keyCertSign, verifiers would not treat the
  // certificate as its own issuer and report "unable to get local issuer".
  for (auto [nid, value] : {std::pair<int, const char*>{NID_ext_key_usage, "serverAuth"},
                            {NID_subject_alt_name, san.c_str()}}) {
    StatusOr<X509ExtensionPtr> ext = makeExtension(nid, value, cert.get(), cert.get());
    ok = ok && ext.isOk() && X509_add_ext(cert.get(), ext->get(), -1) == 1;
  }
  if (!ok || !signCertificate(cert.get(), key->get()).isOk()) std::abort();
  return Leaf{std::move(cert), std::move(*key), host, {}};
}

inline CertificateAuthority makeCa(std::vector<std::string> hosts) {
  CaOptions options;
  options.permitted_hosts = std::move(hosts);
  StatusOr<CertificateAuthority> ca = CertificateAuthority::create(options);
  if (!ca) std::abort();
  return std::move(*ca);
}

// Everything one intercepted connection needs: a CA for `hosts` (saved to a
// temp dir), its minter and a leaf cache, a server context, and an upstream
// client context trusting that CA — plus the system store unless
// `system_trust` is false (the bench leaves it out: loading it is a one-off).
struct TlsWorld {
  explicit TlsWorld(std::vector<std::string> hosts, bool system_trust = true)
      : ca(makeCa(std::move(hosts))),
        minter(LeafMinter::create(ca).value()),
        leaves(minter),
        server_ctx(ServerContext::create({.session_id_context = ca.fingerprint()}).value()) {
    if (!ca.save(dir.file("ca.pem"), dir.file("ca.key")).isOk()) std::abort();
    ClientContextOptions options{.extra_ca_file = dir.file("ca.pem")};
    if (!system_trust) options.system_trust_file.clear();
    client_ctx.emplace(ClientContext::create(options).value());
  }

  TempDir dir;
  CertificateAuthority ca;
  std::shared_ptr<const LeafMinter> minter;
  LeafCache leaves;
  ServerContext server_ctx;
  std::optional<ClientContext> client_ctx;
};

}  // namespace kitgate::tls::testing
