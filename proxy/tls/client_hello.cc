#include "proxy/tls/client_hello.h"

#include <cstdint>
#include <optional>

namespace kitgate::tls {
namespace {

constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kClientHelloType = 1;
constexpr uint16_t kServerNameExtension = 0;
constexpr uint16_t kAlpnExtension = 16;
constexpr uint8_t kHostNameType = 0;
constexpr size_t kRecordHeader = 5;
constexpr size_t kMaxRecord = 16384 + 2048;  // TLSPlaintext bound, with slack for old stacks

// A bounds-checked reader over one buffer; every read fails once it ran out.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  std::optional<uint32_t> u(size_t width) {
    if (b_.size() - pos_ < width) return std::nullopt;
    uint32_t v = 0;
    for (size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<uint8_t>(b_[pos_ + i]);
    pos_ += width;
    return v;
  }
  std::optional<std::string_view> bytes(size_t n) {
    if (b_.size() - pos_ < n) return std::nullopt;
    std::string_view v = b_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  // A vector with a `width`-byte length prefix.
  std::optional<std::string_view> vec(size_t width) {
    auto n = u(width);
    if (!n) return std::nullopt;
    return bytes(*n);
  }
  bool done() const { return pos_ == b_.size(); }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

bool validHostByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

// Whether an ALPN extension's data (a ProtocolNameList) names "h2";
// nullopt = malformed.
std::optional<bool> offersH2(std::string_view data) {
  Reader list(data);
  auto names = list.vec(2);
  if (!names || names->empty() || !list.done()) return std::nullopt;
  Reader entries(*names);
  bool h2 = false;
  while (!entries.done()) {
    auto name = entries.vec(1);
    if (!name || name->empty()) return std::nullopt;
    h2 = h2 || *name == "h2";
  }
  return h2;
}

// The SNI of a whole ClientHello body (after the 4-byte handshake header),
// and whether its ALPN offers h2. nullopt = malformed.
std::optional<std::string> sniOf(std::string_view body, bool& offers_h2) {
  Reader r(body);
  if (!r.u(2) || !r.bytes(32)) return std::nullopt;  // legacy_version, random
  auto session = r.vec(1);
  if (!session || session->size() > 32) return std::nullopt;
  auto suites = r.vec(2);
  if (!suites || suites->empty() || suites->size() % 2 != 0) return std::nullopt;
  auto compression = r.vec(1);
  if (!compression || compression->empty()) return std::nullopt;
  if (r.done()) return std::string();  // no extensions at all (SSL 3-era hello)
  auto extensions = r.vec(2);
  if (!extensions || !r.done()) return std::nullopt;
  Reader ext(*extensions);
  std::optional<std::string> sni;
  while (!ext.done()) {
    auto type = ext.u(2);
    auto data = ext.vec(2);
    if (!type || !data) return std::nullopt;
    if (*type == kAlpnExtension) {
      auto h2 = offersH2(*data);
      if (!h2) return std::nullopt;
      offers_h2 = *h2;
      continue;
    }
    if (*type != kServerNameExtension) continue;
    if (sni) return std::nullopt;  // a second server_name extension
    Reader list(*data);
    auto names = list.vec(2);
    if (!names || !list.done()) return std::nullopt;
    Reader entries(*names);
    std::string host;
    while (!entries.done()) {
      auto name_type = entries.u(1);
      auto name = entries.vec(2);
      if (!name_type || !name) return std::nullopt;
      if (*name_type != kHostNameType) continue;
      if (!host.empty() || name->empty() || name->size() > 255) return std::nullopt;
      for (unsigned char c : *name) {
        if (!validHostByte(c)) return std::nullopt;
        host.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
      }
    }
    sni = std::move(host);
  }
  return sni ? std::move(*sni) : std::string();
}

}  // namespace

ClientHelloPeek peekClientHello(std::string_view bytes) {
  ClientHelloPeek out;
  // Bytes that began as a TLS handshake record (type 22, version 3.x) but
  // do not hold a readable ClientHello are kMalformed, anything else kNotTls.
  auto fail = [&out, bytes] {
    const bool tls_record = bytes.size() >= 2 &&
                            static_cast<uint8_t>(bytes[0]) == kHandshakeRecord &&
                            static_cast<uint8_t>(bytes[1]) == 3;
    out.result =
        tls_record ? ClientHelloPeek::Result::kMalformed : ClientHelloPeek::Result::kNotTls;
    return out;
  };
  // The handshake message, gathered from the fragments of successive records.
  std::string message;
  size_t pos = 0;
  std::optional<size_t> want;  // the whole message's length, header included
  while (!want || message.size() < *want) {
    if (bytes.size() - pos < kRecordHeader) {
      // A prefix that may still become a ClientHello record.
      if (bytes.size() > pos && static_cast<uint8_t>(bytes[pos]) != kHandshakeRecord) return fail();
      if (bytes.size() > pos + 1 && static_cast<uint8_t>(bytes[pos + 1]) != 3) return fail();
      if (bytes.size() >= kMaxClientHelloBytes) return fail();
      return out;  // kIncomplete
    }
    const auto type = static_cast<uint8_t>(bytes[pos]);
    const auto major = static_cast<uint8_t>(bytes[pos + 1]);
    const size_t len = (static_cast<size_t>(static_cast<uint8_t>(bytes[pos + 3])) << 8) |
                       static_cast<uint8_t>(bytes[pos + 4]);
    if (type != kHandshakeRecord || major != 3 || len == 0 || len > kMaxRecord) return fail();
    if (bytes.size() - pos - kRecordHeader < len) {
      if (bytes.size() >= kMaxClientHelloBytes) return fail();
      // Enough of the first fragment to see the message type?
      if (message.empty() && bytes.size() > pos + kRecordHeader &&
          static_cast<uint8_t>(bytes[pos + kRecordHeader]) != kClientHelloType) {
        return fail();
      }
      return out;  // kIncomplete
    }
    message.append(bytes.substr(pos + kRecordHeader, len));
    pos += kRecordHeader + len;
    if (!want && message.size() >= 4) {
      if (static_cast<uint8_t>(message[0]) != kClientHelloType) return fail();
      want = 4 + ((static_cast<size_t>(static_cast<uint8_t>(message[1])) << 16) |
                  (static_cast<size_t>(static_cast<uint8_t>(message[2])) << 8) |
                  static_cast<uint8_t>(message[3]));
      if (*want > kMaxClientHelloBytes) return fail();
    }
  }
  if (message.size() != *want) return fail();  // the hello shares a record with more
  auto sni = sniOf(std::string_view(message).substr(4), out.offers_h2);
  if (!sni) return fail();
  out.result = ClientHelloPeek::Result::kHello;
  out.sni = std::move(*sni);
  return out;
}

}  // namespace kitgate::tls
