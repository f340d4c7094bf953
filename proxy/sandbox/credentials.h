// Proxy credentials: parsing the Proxy-Authorization header a sandbox sends,
// and the constant-time comparison used for tokens.
//
// Pure functions, any thread. The returned strings are secrets: never log
// them, never put them in an error message.
//
// Accepted forms (scheme names case-insensitive, one space or more after):
//   Proxy-Authorization: Basic base64("<sandbox>:<token>")
//   Proxy-Authorization: Bearer <token>
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kitgate::sandbox {

struct ProxyCredentials {
  std::optional<std::string> sandbox;  // Basic only: the user name
  std::string token;
};

// nullopt for any other scheme or a malformed value.
std::optional<ProxyCredentials> parseProxyAuthorization(std::string_view header_value);

// Compares in time that depends only on the lengths, not on where they differ.
bool constantTimeEquals(std::string_view a, std::string_view b);

}  // namespace kitgate::sandbox
