#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "proxy/tls/compat.h"

namespace kitgate::tls {
namespace {

// Loaded shared objects, from /proc/self/maps.
std::string loadedLibraries() {
  std::ifstream maps("/proc/self/maps");
  return std::string((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
}

// BoringSSL and OpenSSL export the same symbol names: one process must load
// exactly one of them (nothing may drag the system libssl into a BoringSSL build).
TEST(TlsBackend, ProcessLoadsOnlyTheSelectedBackend) {
  const std::string maps = loadedLibraries();
  const bool system_openssl = maps.find("/libssl.so.3") != std::string::npos ||
                              maps.find("/libcrypto.so.3") != std::string::npos;
  const bool boringssl = maps.find("/android/libssl.so") != std::string::npos;
  if (compat::backendName() == "boringssl") {
    EXPECT_TRUE(boringssl);
    EXPECT_FALSE(system_openssl);
  } else {
    EXPECT_TRUE(system_openssl);
    EXPECT_FALSE(boringssl);
  }
}

TEST(TlsBackend, HeadersMatchTheSelectedBackend) {
#if defined(OPENSSL_IS_BORINGSSL)
  EXPECT_EQ(compat::backendName(), "boringssl");
#else
  EXPECT_EQ(compat::backendName(), "openssl");
#endif
}

}  // namespace
}  // namespace kitgate::tls
