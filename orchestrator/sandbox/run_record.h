// RunRecord: what `kitgate run` remembers about one sandbox so that ls, exec,
// stop and rm can find everything it created. Stored as JSON at
// <state>/run/<name>.json (0600, atomic). Holds no secret (the proxy token is
// kept only in the proxy's sandbox file).
//
// Free functions; call from one thread at a time per state directory.
// Everything returned is an owned value.
#pragma once

#include <string>
#include <vector>

#include "orchestrator/sandbox/plan.h"
#include "orchestrator/sandbox/port_forward.h"
#include "proxy/common/status.h"

namespace kitgate::sandbox {

struct RunRecord {
  std::string name;
  std::string agent;
  std::string kit;  // reference as given (redacted)
  std::string image;
  std::string workspace;
  std::string container_id;
  std::string container;  // container name
  std::string network;    // network name
  std::string subnet;
  std::string proxy_listen;          // "<gateway>:3128" entry added to proxy.yaml
  std::vector<std::string> volumes;  // named volumes this run created
  std::string created;               // ISO-8601 UTC
  // What a restart reruns (restartSteps(plan)); archives stored base64.
  std::vector<SetupStep> restart;
  std::vector<int> ports;                // kit ports to publish
  std::vector<PublishedPort> published;  // where they are now (host loopback)

  bool operator==(const RunRecord&) const = default;
};

std::string renderRunRecord(const RunRecord& record);  // JSON
StatusOr<RunRecord> parseRunRecord(const std::string& json);

// `run_dir` is state::Paths::runDir().
Status saveRunRecord(const std::string& run_dir, const RunRecord& record);
StatusOr<RunRecord> loadRunRecord(const std::string& run_dir, const std::string& name);
Status removeRunRecord(const std::string& run_dir, const std::string& name);  // idempotent
std::vector<std::string> listRunRecords(const std::string& run_dir);          // sorted names

}  // namespace kitgate::sandbox
