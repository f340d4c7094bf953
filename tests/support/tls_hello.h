// clientHelloFor: the first flight a real TLS client (the project's TLS
// backend) sends for a server name — the bytes the proxy's ClientHello peek
// reads (proxy/tls/client_hello.h). "" = no server_name extension.
// Header-only; link kitgate_tls.
#pragma once

#include <string>

#include "proxy/tls/handles.h"

namespace kitgate::testing {

inline std::string clientHelloFor(const std::string& sni) {
  tls::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  tls::SslPtr ssl(SSL_new(ctx.get()));
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), rbio, wbio);  // the SSL owns both
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl.get(), sni.c_str());
  SSL_set_connect_state(ssl.get());
  SSL_do_handshake(ssl.get());  // wants the server's answer: the hello is written
  std::string out;
  char buf[4096];
  int n = 0;
  while ((n = BIO_read(wbio, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

}  // namespace kitgate::testing
