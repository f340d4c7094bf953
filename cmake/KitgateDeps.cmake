# Third-party dependencies, all from Debian 12 packages (scripts/setup.sh).
# Every target the rest of the build uses is an IMPORTED target created here,
# so the per-folder CMakeLists never call find_package themselves.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

# libevent core + pthreads (evdns lives in core). Never libevent_openssl:
# the TLS backend is BoringSSL and its symbols clash with OpenSSL's.
pkg_check_modules(LIBEVENT REQUIRED IMPORTED_TARGET libevent_core libevent_pthreads)
add_library(kitgate::libevent ALIAS PkgConfig::LIBEVENT)

# HTTP/2 framing, HPACK and flow control (libnghttp2-dev): the library only,
# driven by our own loop and transports (proxy/codec/http2).
pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)
add_library(kitgate::nghttp2 ALIAS PkgConfig::NGHTTP2)

pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
add_library(kitgate::re2 ALIAS PkgConfig::RE2)

find_package(yaml-cpp REQUIRED)
if(NOT TARGET yaml-cpp::yaml-cpp)
  add_library(yaml-cpp::yaml-cpp INTERFACE IMPORTED)
  target_link_libraries(yaml-cpp::yaml-cpp INTERFACE yaml-cpp)
endif()

find_package(spdlog REQUIRED)

# Metrics exposition (prometheus-cpp-dev): the core library only (collectables
# and the text serializer); the proxy serves /metrics on its own admin
# listener, never through the pull library's civetweb server.
pkg_check_modules(PROMETHEUS_CPP_CORE REQUIRED IMPORTED_TARGET prometheus-cpp-core)
add_library(kitgate::prometheus ALIAS PkgConfig::PROMETHEUS_CPP_CORE)

# kitloader: ZIP kits (libarchive-dev) and the CLI's JSON output (nlohmann-json3-dev).
pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive)
add_library(kitgate::libarchive ALIAS PkgConfig::LIBARCHIVE)
find_package(nlohmann_json 3 REQUIRED)

if(KITGATE_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(KITGATE_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# Orchestrator: the Docker Engine API over its unix socket (libcurl's OpenSSL
# flavour; the orchestrator never links the proxy's BoringSSL) and JSON.
if(NOT TARGET CURL::libcurl)
  find_package(CURL REQUIRED)
endif()
if(NOT TARGET nlohmann_json::nlohmann_json)
  find_package(nlohmann_json 3 REQUIRED)
endif()

# Kit signatures (kitloader/sign): OpenSSL 3's libcrypto, the one libcurl's
# OpenSSL flavour already loads into the orchestrator.
if(NOT TARGET OpenSSL::Crypto)
  find_package(OpenSSL 3 REQUIRED COMPONENTS Crypto)
endif()
