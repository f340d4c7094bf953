// Shared helpers for the integration tests: assertions over StatusOr, the
// usual "origin on loopback, proxy allowed to reach it" setup, and policy-log
// matchers. Test code only; one test thread.
#pragma once

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "tests/support/origin_server.h"
#include "tests/support/proxy_process.h"
#include "tests/support/raw_client.h"
#include "tests/support/wait.h"

#define KG_CONCAT_INNER(a, b) a##b
#define KG_CONCAT(a, b) KG_CONCAT_INNER(a, b)
// ASSERT_OK_AND_ASSIGN(auto x, expr): fails the test with the Status message.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(KG_CONCAT(status_or_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)                  \
  auto tmp = (expr);                                               \
  ASSERT_TRUE(tmp.isOk()) << #expr ": " << tmp.status().message(); \
  lhs = std::move(tmp.value())
#define ASSERT_OK(expr)                                         \
  do {                                                          \
    ::kitgate::Status kg_st = (expr);                           \
    ASSERT_TRUE(kg_st.isOk()) << #expr ": " << kg_st.message(); \
  } while (0)

namespace kitgate::testing {

// The name tests use for the loopback origin (static DNS in proxy.yaml).
inline constexpr const char* kOriginHost = "origin.test";

// Proxy options that let clients reach `origin` as origin.test:PORT: the name
// rule plus the explicit loopback allow the address check requires.
// Open descriptors of a process (/proc/PID/fd).
inline size_t countOpenFds(pid_t pid) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

// User + system CPU seconds a process has used (/proc/PID/stat).
inline double processCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));  // from field 3 (state) on
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(f);  // utime, stime
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Resident memory of a process from /proc/<pid>/status, in KiB ("VmRSS",
// "VmHWM"); -1 when unreadable.
inline long procStatusKib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

// ASan keeps freed memory in quarantine (256 MiB by default), so resident
// memory says nothing about buffering there: the bound is checked only in
// builds without it (the transfer itself is checked everywhere).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kRssIsMeaningful = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kRssIsMeaningful = false;
#else
inline constexpr bool kRssIsMeaningful = true;
#endif
#else
inline constexpr bool kRssIsMeaningful = true;
#endif

inline ProxyOptions reachOrigin() {
  ProxyOptions o;
  o.allow = {"origin.test", "127.0.0.1/32"};
  o.dns_hosts = {{"origin.test", "127.0.0.1"}};
  return o;
}

inline std::string originAuthority(const OriginServer& origin) {
  return std::string(kOriginHost) + ":" + std::to_string(origin.port());
}

// "GET http://origin.test:PORT/path HTTP/1.1" request text.
inline std::string absoluteGet(const OriginServer& origin, const std::string& path,
                               const std::string& extra = "", const std::string& method = "GET") {
  std::string auth = originAuthority(origin);
  return method + " http://" + auth + path + " HTTP/1.1\r\nHost: " + auth + "\r\n" + extra + "\r\n";
}

// Matches the final policy-log line of a request (never the "open" line of
// a tunnel) by host and status (and type when given).
inline auto logLine(const std::string& host, int status, const std::string& type = "") {
  return [=](const nlohmann::json& j) {
    return j.value("event", "") != "open" && j.value("host", "") == host &&
           j.value("status", 0) == status && (type.empty() || j.value("type", "") == type);
  };
}

}  // namespace kitgate::testing
