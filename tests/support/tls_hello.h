// clientHelloFor: the first flight a real TLS client (the project's TLS
// backend) sends for a server name — the bytes the proxy's ClientHello peek
// reads (proxy/tls/client_hello.h). "" = no server_name extension; `alpn`:
// the ALPN protocol list in wire form ("\x02h2\x08http/1.1"), "" = none.
// Header-only; link kitgate_tls.
#pragma once

#include <string>

#include "proxy/tls/handles.h"

namespace kitgate::testing {

inline std::string clientHelloFor(const std::string& sni, const std::string& alpn = "") {
  tls::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  tls::SslPtr ssl(SSL_new(ctx.get()));
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), rbio, wbio);  // the SSL owns both
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl.get(), sni.c_str());
  if (!alpn.empty()) {
    SSL_set_alpn_protos(ssl.get(), reinterpret_cast<const unsigned char*>(alpn.data()),
                        static_cast<unsigned>(alpn.size()));
  }
  SSL_set_connect_state(ssl.get());
  SSL_do_handshake(ssl.get());  // wants the server's answer: the hello is written
  std::string out;
  char buf[4096];
  int n = 0;
  while ((n = BIO_read(wbio, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

}  // namespace kitgate::testing
