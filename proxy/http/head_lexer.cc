#include "proxy/http/head_lexer.h"

#include <array>
#include <cstring>
#include <limits>

namespace kitgate::http {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]);
    unsigned char y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + ('a' - 'A'));
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + ('a' - 'A'));
    if (x != y) return false;
  }
  return true;
}

const Header* findHeader(const std::vector<Header>& headers, std::string_view name) {
  for (const Header& h : headers) {
    if (equalsIgnoreCase(h.name, name)) return &h;
  }
  return nullptr;
}

namespace internal {
namespace {

constexpr std::array<bool, 256> makeTcharTable() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kTchar = makeTcharTable();

constexpr std::array<bool, 256> makeFieldValueTable() {
  std::array<bool, 256> t{};
  t['\t'] = true;
  for (int c = 0x20; c <= 0x7e; ++c) t[c] = true;
  for (int c = 0x80; c <= 0xff; ++c) t[c] = true;
  return t;
}
constexpr std::array<bool, 256> kFieldValue = makeFieldValueTable();

bool isOws(char c) { return c == ' ' || c == '\t'; }

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

// True for names like "Content_Length": some servers (CGI-style gateways)
// map '_' to '-', so such a field could frame the body for them while we
// forward it as an ordinary field.
bool looksLikeFramingField(std::string_view name) {
  if (name.size() != 14 && name.size() != 17) return false;
  if (name.find('_') == std::string_view::npos) return false;
  const std::string_view target = name.size() == 14 ? "content-length" : "transfer-encoding";
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i] == '_' ? '-' : name[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
    if (c != target[i]) return false;
  }
  return true;
}

// Records what the framing logic needs to know about one field.
ParseStatus noteField(std::string_view name, std::string_view value, FieldFacts* facts) {
  switch (name.size()) {
    case 4:
      if (equalsIgnoreCase(name, "host")) {
        ++facts->host_count;
        facts->host = value;
      }
      break;
    case 6:
      if (equalsIgnoreCase(name, "expect")) {
        ++facts->expect_count;
        facts->expect = value;
      }
      break;
    case 7:
      if (equalsIgnoreCase(name, "upgrade")) facts->has_upgrade_header = true;
      break;
    case 10:
      if (equalsIgnoreCase(name, "connection")) {
        const bool ok = forEachToken(value, [facts](std::string_view token) {
          if (equalsIgnoreCase(token, "close")) facts->connection_close = true;
          if (equalsIgnoreCase(token, "keep-alive")) facts->connection_keep_alive = true;
          if (equalsIgnoreCase(token, "upgrade")) facts->connection_upgrade = true;
        });
        if (!ok) return ParseStatus::error(400, "invalid Connection header");
      }
      break;
    case 14:
      if (equalsIgnoreCase(name, "content-length")) {
        ++facts->content_length_count;
        if (!parseDecimal(value, &facts->content_length)) facts->content_length_valid = false;
      }
      break;
    case 17:
      if (equalsIgnoreCase(name, "transfer-encoding")) {
        ++facts->transfer_encoding_count;
        facts->transfer_encoding = value;
      }
      break;
    default:
      break;
  }
  return ParseStatus::complete();
}

}  // namespace

bool isTchar(unsigned char c) { return kTchar[c]; }
bool isFieldValueChar(unsigned char c) { return kFieldValue[c]; }
bool isDigit(unsigned char c) { return c >= '0' && c <= '9'; }

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!kTchar[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

ParseStatus findHead(std::string_view buf, const HeadLimits& limits, bool skip_leading_empty_lines,
                     size_t* start, size_t* end) {
  size_t pos = 0;
  if (skip_leading_empty_lines) {
    while (pos + 1 < buf.size() && buf[pos] == '\r' && buf[pos + 1] == '\n') pos += 2;
  }
  *start = pos;
  const size_t limit = std::min(buf.size(), limits.max_head_bytes);
  size_t line_start = pos;
  size_t lines = 0;
  while (line_start < limit) {
    const void* found = std::memchr(buf.data() + line_start, '\n', limit - line_start);
    if (found == nullptr) break;
    const size_t lf = static_cast<size_t>(static_cast<const char*>(found) - buf.data());
    // lf == line_start means an LF right after the previous LF: also bare.
    if (lf == line_start || buf[lf - 1] != '\r') {
      return ParseStatus::error(400, "bare LF in head");
    }
    if (lf - 1 == line_start) {
      if (line_start == pos) return ParseStatus::error(400, "empty start line");
      *end = lf + 1;
      return ParseStatus::complete();
    }
    // The start line plus at most max_headers field lines.
    if (++lines > limits.max_headers + 1) return ParseStatus::error(431, "too many header fields");
    line_start = lf + 1;
  }
  if (buf.size() >= limits.max_head_bytes) return ParseStatus::error(431, "head too large");
  return ParseStatus::incomplete();
}

ParseStatus parseFields(std::string_view fields, std::vector<Header>* headers, FieldFacts* facts) {
  size_t n = 0;
  while (!fields.empty()) {
    // findHead guarantees every LF follows a CR and the block ends in CRLF.
    const size_t lf = fields.find('\n');
    if (lf == std::string_view::npos || lf < 2) return ParseStatus::error(400, "malformed header line");
    const std::string_view line = fields.substr(0, lf - 1);
    fields.remove_prefix(lf + 1);

    if (isOws(line.front())) return ParseStatus::error(400, "obsolete line folding");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return ParseStatus::error(400, "header line without colon");
    const std::string_view name = line.substr(0, colon);
    if (name.empty()) return ParseStatus::error(400, "empty header name");
    if (isOws(name.back())) return ParseStatus::error(400, "whitespace before colon");
    if (!isToken(name)) return ParseStatus::error(400, "invalid header name");
    if (looksLikeFramingField(name)) return ParseStatus::error(400, "ambiguous framing header name");
    const std::string_view value = trimOws(line.substr(colon + 1));
    for (char c : value) {
      if (!kFieldValue[static_cast<unsigned char>(c)]) {
        return ParseStatus::error(400, "invalid character in header value");
      }
    }
    if (ParseStatus s = noteField(name, value, facts); s.isError()) return s;

    // Reuse the strings of a previous parse into the same vector.
    if (n < headers->size()) {
      (*headers)[n].name.assign(name);
      (*headers)[n].value.assign(value);
    } else {
      headers->push_back(Header{std::string(name), std::string(value)});
    }
    ++n;
  }
  headers->resize(n);
  return ParseStatus::complete();
}

bool parseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (char c : s) {
    if (!isDigit(static_cast<unsigned char>(c))) return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (kMax - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

TransferCoding classifyTransferEncoding(std::string_view value) {
  size_t elements = 0;
  bool last_is_chunked = false;
  while (true) {
    const size_t comma = value.find(',');
    const std::string_view element = trimOws(value.substr(0, comma));
    // Empty elements and transfer parameters (";q=…") are refused outright.
    if (!isToken(element)) return TransferCoding::kInvalid;
    // chunked anywhere but last means the body was chunked twice or not last.
    if (last_is_chunked) return TransferCoding::kInvalid;
    last_is_chunked = equalsIgnoreCase(element, "chunked");
    ++elements;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  if (!last_is_chunked) return TransferCoding::kInvalid;
  return elements == 1 ? TransferCoding::kChunked : TransferCoding::kUnsupported;
}

}  // namespace internal
}  // namespace kitgate::http
