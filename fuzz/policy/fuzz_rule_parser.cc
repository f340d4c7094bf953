// Fuzzes the policy front door: parseRule, normalizeHost, RuleSet::compile
// and Policy::evaluate / checkAddress.
//
// Input: line 1 is a destination host, line 2 (optional) a port number; every
// further line is a rule (a leading '!' makes it a deny rule). Besides "no
// crash / no sanitizer report", it checks invariants and aborts on breach:
//  * normalizeHost is idempotent on its own output;
//  * whatever libc inet_aton reads as an IPv4 address, normalizeHost either
//    refuses or reads as the same IPv4 address (never as a host name, which a
//    resolver would then turn into that address behind the policy's back);
//  * a parsed rule parses again, from its own text, to the same kind;
//  * evaluate() returns a non-empty reason, and the rule it names is one of
//    the rules given.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/policy/policy.h"

namespace {

using namespace kitgate::policy;

void check(bool ok) {
  if (!ok) std::abort();
}

void checkAgreesWithInetAton(std::string_view input, const kitgate::StatusOr<Host>& host) {
  if (input.empty() || input.size() > 64) return;
  for (char c : input) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '\0')
      return;
  }
  const std::string text(input);
  in_addr a{};
  if (inet_aton(text.c_str(), &a) == 0) return;
  if (!host.isOk()) return;
  check(host->kind == Host::Kind::kIpv4);
  check(host->ip.v4Value() == ntohl(a.s_addr));
}

void checkHostIdempotent(const Host& h) {
  auto again = normalizeHost(h.authority());
  check(again.isOk());
  check(again->kind == h.kind && again->text == h.text && again->ip == h.ip);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  while (!in.empty()) {
    const size_t nl = in.find('\n');
    lines.push_back(in.substr(0, nl));
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  if (lines.empty()) return 0;

  auto host = normalizeHost(lines[0]);
  auto loose = normalizeHost(lines[0], Ipv6Brackets::kOptional);
  checkAgreesWithInetAton(lines[0], host);
  if (host.isOk()) {
    checkHostIdempotent(*host);
    check(loose.isOk() && loose->text == host->text);
  }
  if (loose.isOk()) checkHostIdempotent(*loose);

  uint16_t port = 443;
  if (lines.size() > 1) {
    unsigned long p = 0;
    for (char c : lines[1].substr(0, 5)) p = p * 10 + static_cast<unsigned char>(c) % 10;
    port = static_cast<uint16_t>(p);
  }

  std::vector<Rule> allow;
  std::vector<Rule> deny;
  for (size_t i = 2; i < lines.size() && i < 2000; ++i) {
    std::string_view text = lines[i];
    const bool is_deny = !text.empty() && text[0] == '!';
    if (is_deny) text.remove_prefix(1);
    ParsedRule parsed = parseRule(text);
    if (auto* err = std::get_if<RuleError>(&parsed)) {
      check(err->column >= 1 && err->column <= text.size() + 1 && !err->message.empty());
      continue;
    }
    Rule& rule = std::get<Rule>(parsed);
    ParsedRule again = parseRule(rule.text);
    check(std::holds_alternative<Rule>(again) && std::get<Rule>(again).kind == rule.kind &&
          std::get<Rule>(again).pattern == rule.pattern);
    (is_deny ? deny : allow).push_back(std::move(rule));
  }
  std::vector<std::string> texts;
  for (const Rule& r : allow) texts.push_back(r.text);
  for (const Rule& r : deny) texts.push_back(r.text);

  auto set = RuleSet::compile(std::move(allow), std::move(deny));
  if (!set.isOk() || !loose.isOk()) return 0;
  Policy policy({*set});
  Decision d = policy.evaluate(*loose, port);
  check(!d.reason.empty());
  if (!d.rule.empty()) {
    bool known = false;
    for (const std::string& t : texts) known = known || t == d.rule;
    check(known);
  }
  const IpAddress addr = loose->isIp() ? loose->ip : IpAddress::v4(0x08080808);
  Decision after = policy.checkAddress(addr, port, d, SelfAddresses());
  check(!after.reason.empty());
  (void)classify(addr);
  (void)addr.embeddedV4();
  (void)blockedBody(loose->authority(), port, after.reason);
  return 0;
}
