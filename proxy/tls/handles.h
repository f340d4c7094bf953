// Owning handles for the TLS backend's C objects (STYLE.md rule 7).
//
// Every SSL, SSL_CTX, X509, EVP_PKEY, BIO, ... that kitgate creates lives in
// one of these unique_ptrs from the moment it is created, so no error path can
// leak it. Same rules as the object itself: a handle belongs to one thread at a
// time unless the backend documents the object as shareable (SSL_CTX, X509
// and EVP_PKEY are reference-counted and safe to read from several threads).
#pragma once

#include <memory>

#include "proxy/tls/compat.h"

namespace kitgate::tls {

// Calls the backend's free function Fn on destruction.
template <auto Fn>
struct FreeWith {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};

using SslPtr = std::unique_ptr<SSL, FreeWith<SSL_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, FreeWith<SSL_CTX_free>>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, FreeWith<SSL_SESSION_free>>;
using X509Ptr = std::unique_ptr<X509, FreeWith<X509_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, FreeWith<X509_NAME_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, FreeWith<X509_EXTENSION_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, FreeWith<X509_STORE_CTX_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, FreeWith<X509_STORE_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, FreeWith<EVP_PKEY_free>>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, FreeWith<EVP_PKEY_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, FreeWith<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, FreeWith<BN_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, FreeWith<ASN1_INTEGER_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, FreeWith<GENERAL_NAME_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, FreeWith<GENERAL_NAMES_free>>;
using GeneralSubtreePtr = std::unique_ptr<GENERAL_SUBTREE, FreeWith<GENERAL_SUBTREE_free>>;
using NameConstraintsPtr = std::unique_ptr<NAME_CONSTRAINTS, FreeWith<NAME_CONSTRAINTS_free>>;

// New owning references to shared, reference-counted objects.
inline X509Ptr upRef(X509* x) {
  X509_up_ref(x);
  return X509Ptr(x);
}
inline EvpPkeyPtr upRef(EVP_PKEY* k) {
  EVP_PKEY_up_ref(k);
  return EvpPkeyPtr(k);
}

}  // namespace kitgate::tls
