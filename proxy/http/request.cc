#include "proxy/http/request.h"

#include <arpa/inet.h>

#include <cstring>

#include "proxy/http/head_lexer.h"

namespace kitgate::http {
namespace {

using internal::FieldFacts;
using internal::TransferCoding;

constexpr uint16_t kHttpDefaultPort = 80;
constexpr size_t kMaxHostBytes = 255;

bool isRegNameChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || internal::isDigit(c) || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool isIpv6Literal(std::string_view h) {
  char text[INET6_ADDRSTRLEN];
  if (h.size() < 2 || h.size() >= sizeof(text)) return false;
  for (char c : h) {
    const bool ok = internal::isDigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f') ||
                    (c >= 'A' && c <= 'F') || c == ':' || c == '.';
    if (!ok) return false;  // no zone ids, no IPvFuture
  }
  std::memcpy(text, h.data(), h.size());
  text[h.size()] = '\0';
  unsigned char addr[16];
  return inet_pton(AF_INET6, text, addr) == 1;
}

}  // namespace

const char* parseAuthority(std::string_view a, bool port_required, Authority* out) {
  std::string_view port_text;
  if (!a.empty() && a.front() == '[') {
    const size_t close = a.find(']');
    if (close == std::string_view::npos) return "invalid IPv6 literal";
    out->host = a.substr(1, close - 1);
    if (!isIpv6Literal(out->host)) return "invalid IPv6 literal";
    const std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return "invalid authority";
      port_text = rest.substr(1);
      out->has_port = true;
    }
  } else {
    const size_t colon = a.find(':');
    out->host = a.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = a.substr(colon + 1);
      out->has_port = true;
    }
    if (out->host.empty()) return "empty host";
    if (out->host.size() > kMaxHostBytes) return "host too long";
    for (char c : out->host) {
      if (!isRegNameChar(static_cast<unsigned char>(c))) return "invalid character in host";
    }
  }
  if (out->has_port) {
    uint64_t port = 0;
    if (port_text.size() > 5 || !internal::parseDecimal(port_text, &port) || port == 0 ||
        port > 65535) {
      return "invalid port";
    }
    out->port = static_cast<uint16_t>(port);
  } else if (port_required) {
    return "port required";
  }
  return nullptr;
}

namespace {

// "HTTP/1.0" or "HTTP/1.1" -> minor version; other well-formed versions 505.
ParseStatus parseVersion(std::string_view v, int* minor) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.' ||
      !internal::isDigit(static_cast<unsigned char>(v[5])) ||
      !internal::isDigit(static_cast<unsigned char>(v[7]))) {
    return ParseStatus::error(400, "malformed HTTP version");
  }
  if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) {
    return ParseStatus::error(505, "HTTP version not supported");
  }
  *minor = v[7] - '0';
  return ParseStatus::complete();
}

ParseStatus parseTarget(std::string_view target, RequestHead* out) {
  for (char c : target) {
    if (c == '#') return ParseStatus::error(400, "fragment in request target");
    if (c <= 0x20 || c >= 0x7f)
      return ParseStatus::error(400, "invalid character in request target");
  }
  Authority authority;
  if (out->method == "CONNECT") {
    out->form = RequestHead::TargetForm::kAuthority;
    if (const char* why = parseAuthority(target, /*port_required=*/true, &authority)) {
      return ParseStatus::error(400, why);
    }
    out->host.assign(authority.host);
    out->port = authority.port;
    return ParseStatus::complete();
  }
  if (target.front() == '/') {
    out->form = RequestHead::TargetForm::kOrigin;
    out->path.assign(target);
    return ParseStatus::complete();
  }
  if (target == "*") {
    if (out->method != "OPTIONS") return ParseStatus::error(400, "asterisk-form only with OPTIONS");
    out->form = RequestHead::TargetForm::kAsterisk;
    out->path.assign(target);
    return ParseStatus::complete();
  }
  const size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos)
    return ParseStatus::error(400, "invalid request target");
  const std::string_view scheme = target.substr(0, scheme_end);
  if (equalsIgnoreCase(scheme, "https")) return ParseStatus::error(400, "use CONNECT for https");
  if (!equalsIgnoreCase(scheme, "http")) return ParseStatus::error(400, "unsupported scheme");
  out->form = RequestHead::TargetForm::kAbsolute;
  out->scheme.assign("http");

  const std::string_view rest = target.substr(scheme_end + 3);
  const size_t authority_end = rest.find_first_of("/?");
  const std::string_view authority_text = rest.substr(0, authority_end);
  if (authority_text.find('@') != std::string_view::npos) {
    return ParseStatus::error(400, "userinfo in request target");
  }
  if (const char* why = parseAuthority(authority_text, /*port_required=*/false, &authority)) {
    return ParseStatus::error(400, why);
  }
  out->host.assign(authority.host);
  out->port = authority.has_port ? authority.port : kHttpDefaultPort;
  if (authority_end == std::string_view::npos) {
    out->path.assign("/");
  } else {
    const std::string_view path = rest.substr(authority_end);
    if (path.front() == '?') {
      out->path.assign("/");
      out->path.append(path);
    } else {
      out->path.assign(path);
    }
  }
  return ParseStatus::complete();
}

ParseStatus parseRequestLine(std::string_view line, RequestHead* out) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return ParseStatus::error(400, "malformed request line");
  const std::string_view method = line.substr(0, sp1);
  if (!internal::isToken(method)) return ParseStatus::error(400, "invalid method");
  const std::string_view rest = line.substr(sp1 + 1);
  const size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos) return ParseStatus::error(400, "malformed request line");
  const std::string_view target = rest.substr(0, sp2);
  const std::string_view version = rest.substr(sp2 + 1);
  if (target.empty() || version.find(' ') != std::string_view::npos) {
    return ParseStatus::error(400, "malformed request line");
  }
  if (ParseStatus s = parseVersion(version, &out->version_minor); !s.isComplete()) return s;
  out->method.assign(method);
  return parseTarget(target, out);
}

// Host, framing, Expect, keep-alive and upgrade from the collected facts.
ParseStatus applyFacts(const FieldFacts& facts, RequestHead* out) {
  const bool http11 = out->version_minor == 1;
  using Form = RequestHead::TargetForm;
  const bool host_from_header = out->form == Form::kOrigin || out->form == Form::kAsterisk;

  if (facts.host_count > 1) return ParseStatus::error(400, "multiple Host headers");
  if (facts.host_count == 1 && !facts.host.empty()) {
    Authority authority;
    if (parseAuthority(facts.host, /*port_required=*/false, &authority) != nullptr) {
      return ParseStatus::error(400, "invalid Host header");
    }
    if (host_from_header) {
      out->host.assign(authority.host);
      out->port = authority.has_port ? authority.port : 0;
    }
  } else if (host_from_header && http11) {
    return ParseStatus::error(400, "missing Host header");
  }

  if (facts.content_length_count > 0 && facts.transfer_encoding_count > 0) {
    return ParseStatus::error(400, "both Content-Length and Transfer-Encoding");
  }
  if (facts.content_length_count > 1) {
    return ParseStatus::error(400, "multiple Content-Length headers");
  }
  if (!facts.content_length_valid) return ParseStatus::error(400, "invalid Content-Length");
  if (facts.transfer_encoding_count > 0) {
    if (!http11) return ParseStatus::error(400, "Transfer-Encoding in HTTP/1.0");
    if (facts.transfer_encoding_count > 1) {
      return ParseStatus::error(400, "multiple Transfer-Encoding headers");
    }
    switch (internal::classifyTransferEncoding(facts.transfer_encoding)) {
      case TransferCoding::kChunked:
        out->framing = BodyFraming::kChunked;
        break;
      case TransferCoding::kUnsupported:
        return ParseStatus::error(501, "unsupported transfer coding");
      case TransferCoding::kInvalid:
        return ParseStatus::error(400, "Transfer-Encoding must be chunked");
    }
  } else if (facts.content_length_count == 1) {
    out->framing = BodyFraming::kContentLength;
    out->content_length = facts.content_length;
  }
  if (out->form == Form::kAuthority &&
      (out->framing == BodyFraming::kChunked || out->content_length > 0)) {
    return ParseStatus::error(400, "body on CONNECT");
  }

  if (http11 && facts.expect_count > 0) {
    if (facts.expect_count > 1 || !equalsIgnoreCase(facts.expect, "100-continue")) {
      return ParseStatus::error(417, "unsupported expectation");
    }
    out->expect_continue = true;
  }
  out->keep_alive = !facts.connection_close && (http11 || facts.connection_keep_alive);
  out->upgrade = http11 && facts.connection_upgrade && facts.has_upgrade_header &&
                 out->form != Form::kAuthority;
  return ParseStatus::complete();
}

void reset(RequestHead* out) {
  out->method.clear();
  out->form = RequestHead::TargetForm::kOrigin;
  out->scheme.clear();
  out->host.clear();
  out->port = 0;
  out->path.clear();
  out->version_minor = 1;
  out->framing = BodyFraming::kNone;
  out->content_length = 0;
  out->keep_alive = true;
  out->expect_continue = false;
  out->upgrade = false;
}

}  // namespace

ParseStatus parseRequestHead(std::string_view buf, const HeadLimits& limits, RequestHead* out,
                             size_t* consumed) {
  size_t start = 0;
  size_t end = 0;
  if (ParseStatus s =
          internal::findHead(buf, limits, /*skip_leading_empty_lines=*/true, &start, &end);
      !s.isComplete()) {
    return s;
  }
  const std::string_view head = buf.substr(start, end - start);
  const size_t line_end = head.find("\r\n");
  const std::string_view fields = head.substr(line_end + 2, head.size() - line_end - 4);

  reset(out);
  if (ParseStatus s = parseRequestLine(head.substr(0, line_end), out); !s.isComplete()) return s;
  FieldFacts facts;
  if (ParseStatus s = internal::parseFields(fields, &out->headers, &facts); !s.isComplete()) {
    return s;
  }
  if (ParseStatus s = applyFacts(facts, out); !s.isComplete()) return s;
  *consumed = end;
  return ParseStatus::complete();
}

}  // namespace kitgate::http
