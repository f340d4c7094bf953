#include "proxy/http/response.h"

#include "proxy/http/head_lexer.h"

namespace kitgate::http {
namespace {

using internal::FieldFacts;

constexpr ParseStatus bad(const char* reason) { return ParseStatus::error(502, reason); }

// "HTTP/1.x SP 3DIGIT SP reason". A missing SP after the code (an empty
// reason) is tolerated: it cannot change how the message is framed.
ParseStatus parseStatusLine(std::string_view line, ResponseHead* out) {
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') {
    return bad("malformed status line");
  }
  if (line[7] != '0' && line[7] != '1') return bad("unsupported HTTP version");
  out->version_minor = line[7] - '0';
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (!internal::isDigit(static_cast<unsigned char>(line[i]))) return bad("malformed status code");
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100 || status > 599) return bad("status code out of range");
  out->status = status;
  std::string_view reason = line.substr(12);
  if (!reason.empty()) {
    if (reason.front() != ' ') return bad("malformed status line");
    reason.remove_prefix(1);
  }
  for (char c : reason) {
    if (!internal::isFieldValueChar(static_cast<unsigned char>(c))) {
      return bad("invalid character in reason phrase");
    }
  }
  out->reason.assign(reason);
  return ParseStatus::complete();
}

ParseStatus applyFacts(const FieldFacts& facts, std::string_view request_method,
                       ResponseHead* out) {
  const bool http11 = out->version_minor == 1;
  if (facts.content_length_count > 0 && facts.transfer_encoding_count > 0) {
    return bad("both Content-Length and Transfer-Encoding");
  }
  if (facts.content_length_count > 1) return bad("multiple Content-Length headers");
  if (!facts.content_length_valid) return bad("invalid Content-Length");
  if (facts.transfer_encoding_count > 0) {
    if (!http11) return bad("Transfer-Encoding in HTTP/1.0");
    if (facts.transfer_encoding_count > 1) return bad("multiple Transfer-Encoding headers");
    if (internal::classifyTransferEncoding(facts.transfer_encoding) !=
        internal::TransferCoding::kChunked) {
      return bad("Transfer-Encoding must be chunked");
    }
  }
  out->has_content_length = facts.content_length_count == 1;
  out->content_length = out->has_content_length ? facts.content_length : 0;
  out->keep_alive = !facts.connection_close && (http11 || facts.connection_keep_alive);

  // RFC 9112 §6.3, in order.
  const int s = out->status;
  if (request_method == "HEAD" || (s >= 100 && s < 200 && s != 101) || s == 204 || s == 304) {
    out->framing = BodyFraming::kNone;
  } else if (s == 101 || (request_method == "CONNECT" && s >= 200 && s < 300)) {
    out->framing = BodyFraming::kTunnel;
    out->keep_alive = false;
  } else if (facts.transfer_encoding_count > 0) {
    out->framing = BodyFraming::kChunked;
  } else if (out->has_content_length) {
    out->framing = BodyFraming::kContentLength;
  } else {
    out->framing = BodyFraming::kUntilClose;
    out->keep_alive = false;
  }
  return ParseStatus::complete();
}

}  // namespace

ParseStatus parseResponseHead(std::string_view buf, const HeadLimits& limits,
                              std::string_view request_method, ResponseHead* out,
                              size_t* consumed) {
  size_t start = 0;
  size_t end = 0;
  ParseStatus s = internal::findHead(buf, limits, /*skip_leading_empty_lines=*/false, &start, &end);
  if (s.isError()) return s.withHttpStatus(502);
  if (s.isIncomplete()) return s;
  const std::string_view head = buf.substr(start, end - start);
  const size_t line_end = head.find("\r\n");
  const std::string_view fields = head.substr(line_end + 2, head.size() - line_end - 4);

  if (s = parseStatusLine(head.substr(0, line_end), out); !s.isComplete()) return s;
  FieldFacts facts;
  if (s = internal::parseFields(fields, &out->headers, &facts); s.isError()) {
    return s.withHttpStatus(502);
  }
  if (s = applyFacts(facts, request_method, out); !s.isComplete()) return s;
  *consumed = end;
  return ParseStatus::complete();
}

}  // namespace kitgate::http
