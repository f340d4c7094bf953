// The DNS wire format kitgate's responder speaks over TCP (RFC 1035 §4.1,
// RFC 7766: each message after a two-byte length): a query's header and
// its one question read, an answer of A / AAAA records built. UDP goes
// through libevent's evdns server, which does the same for datagrams.
//
// Pure functions, any thread. Only what a stub resolver sends is read: a
// question name of plain labels (no compression pointer, no '.' or byte
// outside printable ASCII inside a label); the records after the question
// (an EDNS OPT, say) are ignored, as evdns does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/policy/ip_address.h"

namespace kitgate::dns {

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeAAAA = 28;
inline constexpr uint16_t kClassIn = 1;

enum class Rcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

struct Query {
  uint16_t id = 0;
  uint16_t flags = 0;    // as received (opcode, RD …)
  uint16_t qdcount = 0;  // questions in the message (kitgate answers exactly one)
  std::string name;      // dotted, as asked (case kept, no trailing dot)
  uint16_t type = 0;
  uint16_t klass = 0;
  std::string_view question;  // the question's bytes, echoed in the answer
                              // (points into the parsed message)
};

enum class ParseResult : uint8_t {
  kOk,
  kNotQuery,        // a response (QR set): never answered
  kNotImplemented,  // an opcode other than QUERY: NOTIMP
  kMalformed,       // no header, or a question that cannot be read: FORMERR
                    // when the header (the id) could be read
};

// Reads `message` into `out`. Unless kMalformed with message.size() < 12,
// `out` holds the id and flags (the answer can name them).
ParseResult parseQuery(std::string_view message, Query* out);

// The answer to `q`: the header (id, RD echoed, QR, AA when `authoritative`,
// RA), the question echoed when it was read, and one record per address of
// the question's family (A: IPv4, AAAA: IPv6), `ttl` seconds. An empty
// `q.question` gives a header-only answer (FORMERR).
std::string buildAnswer(const Query& q, Rcode rcode, bool authoritative,
                        const std::vector<policy::IpAddress>& addresses, uint32_t ttl);

}  // namespace kitgate::dns
