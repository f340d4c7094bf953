#include "proxy/policy/decision.h"

namespace kitgate::policy {
namespace {

void appendPrintable(std::string& out, std::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u >= 0x7f ? '?' : c);
  }
}

}  // namespace

std::string_view toString(Decision::Verdict v) {
  switch (v) {
    case Decision::Verdict::kAllow:
      return "allow";
    case Decision::Verdict::kDeny:
      return "deny";
    case Decision::Verdict::kCheckAddress:
      return "check-address";
  }
  return "deny";
}

Interception decideInterception(const Decision& decision, const InterceptFacts& f) {
  if (!decision.allowed()) return {false, "not intercepted: the request is not allowed"};
  if (!f.tls_configured) return {false, "not intercepted: interception TLS is not configured"};
  if (!f.credentials_bound)
    return {false, "not intercepted: no credential is bound for this sandbox"};
  if (!f.host_has_plan) return {false, "not intercepted: no credential is bound for this host"};
  if (!f.sandbox_has_ca) return {false, "not intercepted: the sandbox has no interception CA"};
  return {true, "intercepted: " + f.plan};
}

std::string blockedBody(std::string_view host, uint16_t port, std::string_view reason) {
  std::string body = "Blocked by network policy: domain ";
  const bool bracket =
      !host.empty() && host.find(':') != std::string_view::npos && host.front() != '[';
  if (bracket) body.push_back('[');
  appendPrintable(body, host);
  if (bracket) body.push_back(']');
  body += ':';
  body += std::to_string(port);
  body += "\n  detail: ";
  appendPrintable(body, reason);
  body += '\n';
  return body;
}

}  // namespace kitgate::policy
