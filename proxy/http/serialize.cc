#include "proxy/http/serialize.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <initializer_list>

#include "proxy/http/head_lexer.h"

namespace kitgate::http {
namespace {

void appendDecimal(uint64_t v, std::string* out) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

// The field names listed by a message's Connection header(s), gathered once
// per message (the common case is one or two tokens).
class ConnectionNames {
 public:
  explicit ConnectionNames(const std::vector<Header>& headers) : headers_(headers) {
    for (const Header& h : headers) {
      if (h.name.size() != 10 || !equalsIgnoreCase(h.name, "connection")) continue;
      internal::forEachToken(h.value, [this](std::string_view token) {
        // Tokens that name hop-by-hop fields change nothing: those are dropped.
        if (isHopByHop(token) || equalsIgnoreCase(token, "close")) return;
        if (count_ < names_.size()) {
          names_[count_++] = token;
        } else {
          overflow_ = true;
        }
      });
    }
  }

  bool contains(std::string_view name) const {
    if (overflow_) return containsSlow(name);
    for (size_t i = 0; i < count_; ++i) {
      if (equalsIgnoreCase(names_[i], name)) return true;
    }
    return false;
  }

 private:
  // More tokens than fit: scan the Connection values again for each field.
  bool containsSlow(std::string_view name) const {
    bool named = false;
    for (const Header& h : headers_) {
      if (!equalsIgnoreCase(h.name, "connection")) continue;
      internal::forEachToken(h.value, [&](std::string_view token) {
        named = named || equalsIgnoreCase(token, name);
      });
    }
    return named;
  }

  const std::vector<Header>& headers_;
  std::array<std::string_view, 8> names_;
  size_t count_ = 0;
  bool overflow_ = false;
};

// Appends every field that is forwarded end to end: not hop-by-hop, not
// named by Connection, not one of `skipped` (fields written from the struct
// instead, or ignored by the parser).
void appendEndToEndFields(const std::vector<Header>& headers,
                          std::initializer_list<std::string_view> skipped, std::string* out) {
  const ConnectionNames connection_names(headers);
  for (const Header& h : headers) {
    bool skip = isHopByHop(h.name) || connection_names.contains(h.name);
    for (std::string_view name : skipped) skip = skip || equalsIgnoreCase(h.name, name);
    if (skip) continue;
    out->append(h.name).append(": ").append(h.value).append("\r\n");
  }
}

void appendFraming(BodyFraming framing, uint64_t content_length, std::string* out) {
  if (framing == BodyFraming::kContentLength) {
    out->append("Content-Length: ");
    appendDecimal(content_length, out);
    out->append("\r\n");
  } else if (framing == BodyFraming::kChunked) {
    out->append("Transfer-Encoding: chunked\r\n");
  }
}

void appendUpgrade(const std::vector<Header>& headers, std::string* out) {
  if (const Header* upgrade = findHeader(headers, "upgrade")) {
    out->append("Upgrade: ").append(upgrade->value).append("\r\n");
  }
  out->append("Connection: upgrade\r\n");
}

void appendConnection(bool keep_alive, std::string* out) {
  out->append(keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
}

}  // namespace

bool isHopByHop(std::string_view name) {
  if (name.size() >= 6 && equalsIgnoreCase(name.substr(0, 6), "proxy-")) return true;
  switch (name.size()) {
    case 2:
      return equalsIgnoreCase(name, "te");
    case 7:
      return equalsIgnoreCase(name, "trailer") || equalsIgnoreCase(name, "upgrade");
    case 10:
      return equalsIgnoreCase(name, "connection") || equalsIgnoreCase(name, "keep-alive");
    case 17:
      return equalsIgnoreCase(name, "transfer-encoding");
    default:
      return false;
  }
}

void serializeRequestForOrigin(const RequestHead& req, std::string* out) {
  serializeRequestForOrigin(req.request(), req.wire(), out);
}

void serializeRequestForOrigin(const Request& req, const http1::Framing& wire, std::string* out) {
  out->append(req.method).append(" ");
  out->append(req.path.empty() ? std::string_view("/") : std::string_view(req.path));
  out->append(" HTTP/1.1\r\nHost: ");
  const bool v6 = req.host.find(':') != std::string::npos;
  if (v6) out->append("[");
  out->append(req.host);
  if (v6) out->append("]");
  const uint16_t default_port = req.scheme == "https" ? 443 : 80;
  if (req.port != 0 && req.port != default_port) {
    out->append(":");
    appendDecimal(req.port, out);
  }
  out->append("\r\n");
  // An Expect the parser ignored (HTTP/1.0) must not gain meaning as 1.1.
  appendEndToEndFields(req.headers,
                       {"host", "content-length", wire.expect_continue ? "" : "expect"}, out);
  appendFraming(wire.framing, wire.content_length, out);
  if (wire.upgrade) {
    appendUpgrade(req.headers, out);
  } else {
    appendConnection(wire.keep_alive, out);
  }
  out->append("\r\n");
}

void serializeResponseForClient(const ResponseHead& resp, std::string* out) {
  out->append("HTTP/1.1 ");
  appendDecimal(static_cast<uint64_t>(resp.status), out);
  out->append(" ");
  out->append(resp.reason.empty() ? reasonPhrase(resp.status) : std::string_view(resp.reason));
  out->append("\r\n");
  appendEndToEndFields(resp.headers, {"content-length"}, out);
  const bool bodiless_status = (resp.status >= 100 && resp.status < 200) || resp.status == 204;
  if (resp.framing == BodyFraming::kNone) {
    if (resp.has_content_length && !bodiless_status) {
      appendFraming(BodyFraming::kContentLength, resp.content_length, out);
    }
  } else {
    appendFraming(resp.framing, resp.content_length, out);
  }
  if (resp.status == 101) {
    appendUpgrade(resp.headers, out);
  } else if (!resp.isInterim()) {
    appendConnection(resp.keep_alive && resp.framing != BodyFraming::kUntilClose, out);
  }
  out->append("\r\n");
}

std::string errorResponse(int status, std::string_view reason_phrase, std::string_view body,
                          bool close) {
  std::string out;
  out.reserve(128 + reason_phrase.size() + body.size());
  out.append("HTTP/1.1 ");
  appendDecimal(static_cast<uint64_t>(status), &out);
  out.append(" ");
  for (char c : reason_phrase) {
    out.push_back(internal::isFieldValueChar(static_cast<unsigned char>(c)) ? c : '?');
  }
  out.append("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
  appendDecimal(body.size(), &out);
  out.append("\r\n");
  appendConnection(!close, &out);
  out.append("\r\n");
  out.append(body);
  return out;
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

}  // namespace kitgate::http
