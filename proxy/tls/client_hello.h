// peekClientHello: what the first bytes a client sent say about TLS, without
// terminating it — whether they are a TLS ClientHello and, if so, the host
// name in its server_name extension (SNI). The transparent path decides a
// connection on that name when it has no other (kit-spec §4.1), and refuses a
// ClientHello whose name disagrees with the one it decided on.
//
// Reads the TLS record layer (content type 22, handshake), gathers the
// handshake message across records, and walks the ClientHello to its
// extensions. Anything that is not exactly that is kNotTls: a client speaking
// another protocol is never mistaken for TLS, and a malformed hello carries no
// name the proxy would trust.
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
    kNotTls,      // not a (well-formed) TLS ClientHello
    kHello,       // a complete ClientHello; `sni` is its host name ("" = none sent)
  };
  Result result = Result::kIncomplete;
  std::string sni;  // as sent (lower-cased), kHello only
};

// The largest ClientHello looked at; a client still short of a complete hello
// after this many bytes is kNotTls.
inline constexpr size_t kMaxClientHelloBytes = 64 * 1024;

ClientHelloPeek peekClientHello(std::string_view bytes);

}  // namespace kitgate::tls
