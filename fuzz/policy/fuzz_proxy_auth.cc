// Fuzzes what a sandbox controls on the identification path: the
// Proxy-Authorization value, through parseProxyAuthorization and a
// single-tenant Registry::identify. Invariants: a parsed token is non-empty
// printable ASCII without spaces; single-tenant identify always answers
// "default" whatever the header says.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proxy/sandbox/credentials.h"
#include "proxy/sandbox/registry.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kitgate::sandbox;
  const std::string_view header(reinterpret_cast<const char*>(data), size);
  if (auto creds = parseProxyAuthorization(header)) {
    check(!creds->token.empty());
    for (char c : creds->token) {
      const auto u = static_cast<unsigned char>(c);
      check(u > 0x20 && u < 0x7f);
    }
    check(!creds->sandbox || !creds->sandbox->empty());
  }
  static const auto registry = singleTenantRegistry({});
  check(registry.isOk());
  const Sandbox* sb = (*registry)->identify(kitgate::policy::IpAddress::v4(0x0a000001), header);
  check(sb != nullptr && sb->name() == kDefaultSandboxName);
  return 0;
}
