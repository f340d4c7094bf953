// peekClientHello: what the first bytes a client sent say about TLS, without
// terminating it — whether they are a TLS ClientHello and, if so, the host
// name in its server_name extension (SNI), and whether it offers HTTP/2
// (ALPN "h2"). The transparent path decides a
// connection on that name when it has no other (kit-spec §4.1), and refuses a
// ClientHello whose name disagrees with the one it decided on.
//
// Reads the TLS record layer (content type 22, handshake), gathers the
// handshake message across records, and walks the ClientHello to its
// extensions. Bytes that do not start as a TLS handshake record are kNotTls
// (a client speaking another protocol is never mistaken for TLS); a TLS
// handshake record that is not exactly a readable ClientHello is kMalformed:
// it carries no name the proxy could check, and callers that check names
// refuse it.
//
// Pure function over bytes; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kitgate::tls {

struct ClientHelloPeek {
  enum class Result {
    kIncomplete,  // a ClientHello so far: more bytes are needed to read it
    kNotTls,      // not TLS: the first bytes are no TLS handshake record
    kMalformed,   // a TLS handshake record, but no well-formed ClientHello (or too big)
    kHello,       // a complete ClientHello; `sni` is its host name ("" = none sent)
  };
  Result result = Result::kIncomplete;
  std::string sni;         // as sent (lower-cased), kHello only
  bool offers_h2 = false;  // its ALPN list names "h2" (kHello only)
};

// The largest ClientHello looked at; a client still short of a complete hello
// after this many bytes is kMalformed.
inline constexpr size_t kMaxClientHelloBytes = 64 * 1024;

ClientHelloPeek peekClientHello(std::string_view bytes);

}  // namespace kitgate::tls
