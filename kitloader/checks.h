// Small pure predicates shared by the kit decoders (internal). Any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kitgate::kit {

// ^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$
bool isValidKitName(std::string_view s);
// ^[A-Za-z_][A-Za-z0-9_]*$
bool isShellIdentifier(std::string_view s);
// RFC 9110 token: 1*tchar
bool isHeaderToken(std::string_view s);
// ^0?[0-7]{3,4}$
bool isOctalMode(std::string_view s);
// Docker units.RAMInBytes: 512, 4096m, 8g, 2gib, 1.5GB ...; error text or nullopt.
std::optional<std::string> sizeError(std::string_view s);
// Number of `%s` in a format (`%%` is a literal percent).
int countPercentS(std::string_view format);
// ^[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)*$
bool isDottedPath(std::string_view s);
// ^[A-Za-z_][A-Za-z0-9_-]*$
bool isArgName(std::string_view s);

// Domain/network pattern check shared with the proxy's policy engine.
struct PatternProblem {
  size_t column = 1;  // 1-based inside the pattern
  std::string message;
};
std::optional<PatternProblem> checkNetworkPattern(std::string_view pattern);
// A valid pattern the proxy still cannot intercept for as a credential host
// (a port, `**`, a glob other than whole `*` labels, an address range).
std::optional<PatternProblem> checkCredentialHost(std::string_view pattern);

// A middle `*` label (`bedrock-runtime.*.amazonaws.com`): the 1-based column
// of the last one and the fixed suffix after it ("amazonaws.com").
struct MiddleWildcard {
  size_t column = 1;
  std::string suffix;
};
std::optional<MiddleWildcard> middleWildcard(std::string_view pattern);

// Does allow-list entry `pattern` (host[:port]) admit requests to `host`?
bool patternCoversHost(std::string_view pattern, std::string_view host);
bool isWildcardHost(std::string_view host);

// Environment names the kit must not set.
enum class EnvNameClass { kOk, kProxyBypass, kRuntimeReserved };
EnvNameClass classifyEnvName(std::string_view name);

// Built-in agent names accepted by `extends:`.
bool isBuiltinAgent(std::string_view name);

}  // namespace kitgate::kit
