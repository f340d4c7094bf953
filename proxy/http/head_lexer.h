// Internal to kitgate_http (not part of its public API): the pieces request
// and response head parsing share — finding the end of a head, splitting and
// validating header field lines, character classes, list and number syntax.
// Pure functions over caller-owned bytes; any thread. Views returned in
// FieldFacts point into the caller's buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "proxy/http/limits.h"
#include "proxy/http/message.h"

namespace kitgate::http::internal {

// RFC 9110 §5.6.2 tchar.
bool isTchar(unsigned char c);
// RFC 9110 §5.5 field-vchar, SP or HTAB (obs-text allowed; CTLs, DEL refused).
bool isFieldValueChar(unsigned char c);
bool isDigit(unsigned char c);
bool isToken(std::string_view s);

// Finds the head in `buf`: every LF must follow a CR, the head ends at the
// first empty line. With `skip_leading_empty_lines` (requests, RFC 9112 §2.2)
// CRLFs before the start line are skipped. On complete: the start line begins
// at *start and the head (through its final CRLFCRLF) ends at *end. Statuses
// are request-side (400/431); callers on the response side map them.
ParseStatus findHead(std::string_view buf, const HeadLimits& limits, bool skip_leading_empty_lines,
                     size_t* start, size_t* end);

// Facts about the framing-relevant fields, gathered while splitting lines.
struct FieldFacts {
  int content_length_count = 0;
  bool content_length_valid = true;  // every Content-Length value was 1*DIGIT
  uint64_t content_length = 0;
  int transfer_encoding_count = 0;
  std::string_view transfer_encoding;
  int host_count = 0;
  std::string_view host;
  int expect_count = 0;
  std::string_view expect;
  bool has_upgrade_header = false;
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool connection_upgrade = false;
};

// Parses the field lines in `fields` (each ending in CRLF; the empty line
// that ends the head is not included) into *headers, reusing the strings it
// already holds, and fills *facts. Refuses obs-fold, whitespace before the
// colon, non-token names, CTLs in values and malformed Connection lists.
ParseStatus parseFields(std::string_view fields, std::vector<Header>* headers, FieldFacts* facts);

// 1*DIGIT without sign, spaces or overflow.
bool parseDecimal(std::string_view s, uint64_t* out);

enum class TransferCoding {
  kChunked,      // exactly "chunked" (case-insensitive)
  kUnsupported,  // a well-formed list ending in chunked with other codings before it
  kInvalid,      // malformed, empty element, parameters, or chunked not (only) final
};
TransferCoding classifyTransferEncoding(std::string_view value);

// Calls fn(element) for each non-empty element of a comma-separated list,
// with optional whitespace trimmed. Returns false when an element is not a
// token (fn is not called for it).
template <typename Fn>
bool forEachToken(std::string_view list, Fn&& fn) {
  while (true) {
    const size_t comma = list.find(',');
    std::string_view element = list.substr(0, comma);
    while (!element.empty() && (element.front() == ' ' || element.front() == '\t')) {
      element.remove_prefix(1);
    }
    while (!element.empty() && (element.back() == ' ' || element.back() == '\t')) {
      element.remove_suffix(1);
    }
    if (!element.empty()) {
      if (!isToken(element)) return false;
      fn(element);
    }
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace kitgate::http::internal
