#include "proxy/tls/ca.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "proxy/common/private_file.h"
#include "proxy/common/unique_fd.h"

namespace kitgate::tls {
namespace {

Status errnoError(const std::string& what) {
  return Status::error(what + ": " + std::strerror(errno));
}

// A GENERAL_NAME of type GEN_DNS (IA5String) or GEN_IPADD (octet string).
GeneralNamePtr makeGeneralName(int type, std::string_view bytes) {
  GeneralNamePtr name(GENERAL_NAME_new());
  ASN1_STRING* value = type == GEN_DNS ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new();
  if (!name || value == nullptr ||
      ASN1_STRING_set(value, bytes.data(), static_cast<int>(bytes.size())) != 1) {
    ASN1_STRING_free(value);
    return nullptr;
  }
  GENERAL_NAME_set0_value(name.get(), type, value);
  return name;
}

bool pushSubtree(STACK_OF(GENERAL_SUBTREE) * *stack, GeneralNamePtr name) {
  if (!name) return false;
  GeneralSubtreePtr subtree(GENERAL_SUBTREE_new());
  if (!subtree) return false;
  GENERAL_NAME_free(subtree->base);
  subtree->base = name.release();
  if (*stack == nullptr) *stack = sk_GENERAL_SUBTREE_new_null();
  if (*stack == nullptr || sk_GENERAL_SUBTREE_push(*stack, subtree.get()) == 0) return false;
  subtree.release();
  return true;
}

// Encodes `constraints` as the critical nameConstraints extension of `cert`.
Status addNameConstraints(X509* cert, const NameConstraints& constraints) {
  NameConstraintsPtr nc(NAME_CONSTRAINTS_new());
  if (!nc) return backendError("NAME_CONSTRAINTS_new");
  bool ok = true;
  for (const std::string& dns : constraints.permitted_dns) {
    ok = ok && pushSubtree(&nc->permittedSubtrees, makeGeneralName(GEN_DNS, dns));
  }
  if (constraints.permitted_dns.empty()) {
    // An empty dNSName base matches every name: no DNS name is permitted.
    ok = ok && pushSubtree(&nc->excludedSubtrees, makeGeneralName(GEN_DNS, ""));
  }
  for (const std::string& ip : constraints.permitted_ips) {
    const std::string address_and_mask = ip + std::string(ip.size(), '\xff');
    ok = ok && pushSubtree(&nc->permittedSubtrees, makeGeneralName(GEN_IPADD, address_and_mask));
  }
  if (constraints.permitted_ips.empty()) {
    // 0.0.0.0/0 and ::/0: no IP address is permitted.
    ok = ok && pushSubtree(&nc->excludedSubtrees, makeGeneralName(GEN_IPADD, std::string(8, '\0')));
    ok = ok &&
         pushSubtree(&nc->excludedSubtrees, makeGeneralName(GEN_IPADD, std::string(32, '\0')));
  }
  if (!ok || X509_add1_ext_i2d(cert, NID_name_constraints, nc.get(), 1, X509V3_ADD_DEFAULT) != 1) {
    return backendError("encoding name constraints");
  }
  return Status::ok();
}

// Reads back the permitted subtrees of a CA certificate.
StatusOr<NameConstraints> readNameConstraints(X509* cert) {
  NameConstraintsPtr nc(static_cast<NAME_CONSTRAINTS*>(
      X509_get_ext_d2i(cert, NID_name_constraints, nullptr, nullptr)));
  if (!nc) {
    return Status::error(
        "CA certificate has no name constraints; kitgate only uses name-constrained CAs");
  }
  NameConstraints out;
  for (size_t i = 0; i < static_cast<size_t>(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees));
       ++i) {
    const GENERAL_NAME* base = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i)->base;
    if (base->type == GEN_DNS) {
      const ASN1_STRING* s = base->d.dNSName;
      std::string dns(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                      static_cast<size_t>(ASN1_STRING_length(s)));
      for (char& c : dns) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      out.permitted_dns.push_back(std::move(dns));
    } else if (base->type == GEN_IPADD) {
      const ASN1_STRING* s = base->d.iPAddress;
      const std::string bytes(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                              static_cast<size_t>(ASN1_STRING_length(s)));
      const size_t half = bytes.size() / 2;
      if ((half != 4 && half != 16) || bytes.substr(half) != std::string(half, '\xff')) {
        return Status::error("CA name constraints: only single-address IP subtrees are supported");
      }
      out.permitted_ips.push_back(bytes.substr(0, half));
    }
  }
  return out;
}

// Reads the rest of `fd`; the stack buffer is wiped (it may have held a key).
StatusOr<std::string> readAll(int fd, const std::string& path) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  OPENSSL_cleanse(buf, sizeof(buf));
  if (n < 0) return errnoError("reading " + path);
  return out;
}

Status addExtension(X509* cert, int nid, const char* value) {
  StatusOr<X509ExtensionPtr> ext = makeExtension(nid, value, cert, cert);
  if (!ext) return ext.status();
  if (X509_add_ext(cert, ext->get(), -1) != 1) return backendError("adding extension");
  return Status::ok();
}

}  // namespace

StatusOr<CertificateAuthority> CertificateAuthority::create(const CaOptions& options) {
  StatusOr<NameConstraints> constraints = nameConstraintsFor(options.permitted_hosts);
  if (!constraints) return constraints.status();
  StatusOr<EvpPkeyPtr> key = generateP256Key();
  if (!key) return key.status();
  StatusOr<X509NamePtr> name = makeName(options.common_name);
  if (!name) return name.status();

  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1 ||
      X509_set_subject_name(cert.get(), name->get()) != 1 ||
      X509_set_issuer_name(cert.get(), name->get()) != 1 ||
      X509_set_pubkey(cert.get(), key->get()) != 1) {
    return backendError("building CA certificate");
  }
  for (Status s : {setRandomSerial(cert.get()),
                   setValidity(cert.get(), options.now, options.back_date, options.lifetime),
                   addExtension(cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"),
                   addExtension(cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"),
                   addExtension(cert.get(), NID_subject_key_identifier, "hash"),
                   addNameConstraints(cert.get(), *constraints),
                   signCertificate(cert.get(), key->get())}) {
    if (!s) return s;
  }
  return CertificateAuthority(std::move(cert), std::move(*key), std::move(*constraints));
}

StatusOr<CertificateAuthority> CertificateAuthority::fromPem(std::string_view cert_pem,
                                                             std::string_view key_pem) {
  StatusOr<X509Ptr> cert = certificateFromPem(cert_pem);
  if (!cert) return Status::error("CA certificate: " + cert.status().message());
  StatusOr<EvpPkeyPtr> key = privateKeyFromPem(key_pem);
  if (!key) return Status::error("CA key: " + key.status().message());
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return Status::error("CA key does not match the CA certificate");
  }
  if (X509_check_ca(cert->get()) != 1) return Status::error("certificate is not a CA");
  StatusOr<NameConstraints> constraints = readNameConstraints(cert->get());
  if (!constraints) return constraints.status();
  return CertificateAuthority(std::move(*cert), std::move(*key), std::move(*constraints));
}

StatusOr<CertificateAuthority> CertificateAuthority::load(const std::string& cert_path,
                                                          const std::string& key_path) {
  StatusOr<std::string> key_pem = readPrivateFile(key_path);
  if (!key_pem) return key_pem.status();
  UniqueFd fd(::open(cert_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errnoError("CA certificate " + cert_path);
  StatusOr<std::string> cert_pem = readAll(fd.get(), cert_path);
  if (!cert_pem) return cert_pem.status();
  StatusOr<CertificateAuthority> ca = fromPem(*cert_pem, *key_pem);
  OPENSSL_cleanse(key_pem->data(), key_pem->size());
  return ca;
}

Status CertificateAuthority::save(const std::string& cert_path, const std::string& key_path) const {
  StatusOr<std::string> key_pem = privateKeyToPem(key_.get());
  if (!key_pem) return key_pem.status();
  Status s = writeFileAtomically(key_path, *key_pem, 0600);
  OPENSSL_cleanse(key_pem->data(), key_pem->size());
  if (!s) return s;
  StatusOr<std::string> cert_pem = certPem();
  if (!cert_pem) return cert_pem.status();
  return writeFileAtomically(cert_path, *cert_pem, 0644);
}

Status writeFileAtomically(const std::string& path, std::string_view contents, unsigned mode) {
  std::string tmp = path + ".tmpXXXXXX";
  UniqueFd fd(::mkstemp(tmp.data()));  // created 0600
  if (!fd.valid()) return errnoError("creating a temporary file next to " + path);
  const auto fail = [&](const std::string& what) {
    Status s = errnoError(what);
    ::unlink(tmp.c_str());
    return s;
  };
  if (::fchmod(fd.get(), mode) != 0) return fail("chmod " + tmp);
  for (size_t done = 0; done < contents.size();) {
    const ssize_t n = ::write(fd.get(), contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("writing " + tmp);
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("fsync " + tmp);
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("renaming to " + path);
  return Status::ok();
}

StatusOr<std::string> readPrivateFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errnoError("key file " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errnoError("stat " + path);
  if (!S_ISREG(st.st_mode)) return Status::error("key file " + path + " is not a regular file");
  if (!privateFileMode(st)) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::error("refusing key file " + path + ": mode " + mode +
                         " lets group or others read it (chmod 600 it)");
  }
  return readAll(fd.get(), path);
}

}  // namespace kitgate::tls
