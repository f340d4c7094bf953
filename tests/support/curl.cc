#include "tests/support/curl.h"

#include <atomic>
#include <cstdlib>

#include "tests/support/subprocess.h"

namespace kitgate::testing {

StatusOr<CurlResult> runCurl(const std::vector<std::string>& args, const std::string& work_dir,
                             std::chrono::seconds timeout) {
  static std::atomic<int> counter{0};
  const std::string prefix = work_dir + "/curl-" + std::to_string(counter.fetch_add(1));
  const std::string body_path = prefix + ".body";
  std::vector<std::string> argv = {"curl", "-sS", "-o", body_path, "-w", "%{http_code}",
                                   "--max-time", std::to_string(timeout.count())};
  argv.insert(argv.end(), args.begin(), args.end());
  // A little headroom over curl's own --max-time before we kill it.
  auto r = runProgram(argv, prefix, std::chrono::duration_cast<std::chrono::milliseconds>(timeout) + std::chrono::seconds(5));
  if (!r) return r.status();
  CurlResult out;
  out.exit_code = r->status.exited ? r->status.code : -1;
  out.http_code = std::atoi(r->out.c_str());
  out.body = readFile(body_path);
  out.err = r->err;
  return out;
}

}  // namespace kitgate::testing
