#include "proxy/dns/message.h"

namespace kitgate::dns {
namespace {

constexpr size_t kHeader = 12;
constexpr uint16_t kQr = 0x8000;
constexpr uint16_t kAa = 0x0400;
constexpr uint16_t kRd = 0x0100;
constexpr uint16_t kRa = 0x0080;
constexpr uint16_t kOpcode = 0x7800;
constexpr size_t kMaxName = 255;  // wire length, RFC 1035 §2.3.4

uint16_t u16(std::string_view m, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(m[at]) << 8) |
                               static_cast<uint8_t>(m[at + 1]));
}

void put16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

}  // namespace

ParseResult parseQuery(std::string_view m, Query* out) {
  *out = Query{};
  if (m.size() < kHeader) return ParseResult::kMalformed;
  out->id = u16(m, 0);
  out->flags = u16(m, 2);
  out->qdcount = u16(m, 4);
  if ((out->flags & kQr) != 0) return ParseResult::kNotQuery;
  if ((out->flags & kOpcode) != 0) return ParseResult::kNotImplemented;
  if (out->qdcount == 0) return ParseResult::kMalformed;
  size_t pos = kHeader;
  std::string name;
  for (;;) {
    if (pos >= m.size()) return ParseResult::kMalformed;
    const auto len = static_cast<uint8_t>(m[pos]);
    if (len == 0) {
      ++pos;
      break;
    }
    if ((len & 0xc0) != 0) return ParseResult::kMalformed;  // pointers and extended labels
    if (pos + 1 + len > m.size() || pos + 1 + len - kHeader > kMaxName) {
      return ParseResult::kMalformed;
    }
    if (!name.empty()) name.push_back('.');
    for (char c : m.substr(pos + 1, len)) {
      if (c == '.' || c <= ' ' || c > '~') return ParseResult::kMalformed;
      name.push_back(c);
    }
    pos += 1 + len;
  }
  if (pos + 4 > m.size()) return ParseResult::kMalformed;
  out->name = std::move(name);
  out->type = u16(m, pos);
  out->klass = u16(m, pos + 2);
  out->question = m.substr(kHeader, pos + 4 - kHeader);
  return ParseResult::kOk;
}

std::string buildAnswer(const Query& q, Rcode rcode, bool authoritative,
                        const std::vector<policy::IpAddress>& addresses, uint32_t ttl) {
  std::string out;
  out.reserve(kHeader + q.question.size() + addresses.size() * 28);
  put16(out, q.id);
  uint16_t flags = kQr | kRa | (q.flags & kRd) | (q.flags & kOpcode) |  // opcode echoed
                   static_cast<uint16_t>(rcode);
  if (authoritative) flags |= kAa;
  put16(out, flags);
  std::vector<const policy::IpAddress*> records;
  if (!q.question.empty()) {
    for (const auto& a : addresses) {
      if ((q.type == kTypeA && a.isV4()) || (q.type == kTypeAAAA && a.isV6())) {
        records.push_back(&a);
      }
    }
  }
  put16(out, q.question.empty() ? 0 : 1);
  put16(out, static_cast<uint16_t>(records.size()));
  put16(out, 0);
  put16(out, 0);
  out.append(q.question);
  for (const policy::IpAddress* a : records) {
    put16(out, 0xc000 | kHeader);  // the question's name
    put16(out, q.type);
    put16(out, kClassIn);
    put16(out, static_cast<uint16_t>(ttl >> 16));
    put16(out, static_cast<uint16_t>(ttl & 0xffff));
    const size_t n = a->isV4() ? 4 : 16;
    put16(out, static_cast<uint16_t>(n));
    out.append(reinterpret_cast<const char*>(a->bytes.data()), n);
  }
  return out;
}

}  // namespace kitgate::dns
