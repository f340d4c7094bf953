// runCurl: the real curl client, for "what a user's tool does" cases
// (`curl -x http://127.0.0.1:PORT …`, `curl -p` for CONNECT).
//
// Runs `curl -sS -o <body file> -w '%{http_code}' --max-time T <args>` with
// posix_spawn and returns its exit code, the HTTP status it saw and the body.
// Any thread; every call uses its own files under `work_dir`.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "proxy/common/status.h"

namespace kitgate::testing {

struct CurlResult {
  int exit_code = -1;  // curl's exit code (0 = transfer fine)
  int http_code = 0;   // last response status curl saw (0 = none)
  std::string body;
  std::string err;  // curl's stderr
};

StatusOr<CurlResult> runCurl(const std::vector<std::string>& args, const std::string& work_dir,
                             std::chrono::seconds timeout = std::chrono::seconds(20));

}  // namespace kitgate::testing
