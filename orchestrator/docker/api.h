// The Docker Engine API's wire format, as pure functions: request bodies and
// query strings built from kitgate's specs, responses parsed into infos,
// version negotiation and error mapping. No I/O, any thread; the only file
// that includes nlohmann/json (its exceptions are caught here).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/docker/types.h"
#include "proxy/common/status.h"

namespace kitgate::docker::api {

// The newest API version this client speaks (Debian 12's dockerd) and the
// oldest it accepts. Requests use min(daemon's newest, kMaxApiVersion).
inline constexpr std::string_view kMaxApiVersion = "1.41";
inline constexpr std::string_view kMinApiVersion = "1.25";

// min(server's version, kMaxApiVersion), or an error when the daemon is
// older than kMinApiVersion or the version text is not "MAJOR.MINOR".
StatusOr<std::string> negotiateApiVersion(std::string_view server_api_version);

// GET /version -> VersionInfo with negotiated_api_version filled.
StatusOr<VersionInfo> parseVersion(std::string_view body);

// Docker's {"message": "…"} from an error body (or the body itself, trimmed
// and bounded, when it is not JSON).
std::string dockerMessage(std::string_view body);

// A Status for a failed call: "<what>: <kind> (HTTP <status>): <message>",
// kind being "not found", "conflict", "bad request", "daemon error", ….
Status errorFromResponse(std::string_view what, long http_status, std::string_view body);

// RFC 3986 percent-encoding of everything but unreserved characters.
std::string percentEncode(std::string_view text);
// "filters=<encoded {"label":[…]}>" or "" when `labels` is empty.
std::string labelFilterQuery(const LabelFilter& labels);

// Request bodies.
std::string containerCreateBody(const ContainerSpec& spec);
std::string networkCreateBody(const NetworkSpec& spec);
std::string volumeCreateBody(const VolumeSpec& spec);
std::string execCreateBody(const ExecSpec& spec);
std::string execStartBody(bool tty);
// Query part (without '?') of POST /images/create?fromSrc=-.
std::string importQuery(const ImportSpec& spec);
// Query part of POST /images/create?fromImage=…&tag=… for "name[:tag]".
std::string pullQuery(std::string_view ref);
// True when a pull failed because the registry wants (other) credentials.
bool isRegistryAuthError(std::string_view message);

// Responses.
StatusOr<std::string> parseId(std::string_view body);  // {"Id": "…"}
StatusOr<ImageInfo> parseImageInspect(std::string_view body);
StatusOr<NetworkInfo> parseNetworkInspect(std::string_view body);
StatusOr<std::vector<NetworkInfo>> parseNetworkList(std::string_view body);
StatusOr<VolumeInfo> parseVolume(std::string_view body);
StatusOr<std::vector<VolumeInfo>> parseVolumeList(std::string_view body);
StatusOr<ContainerInfo> parseContainerInspect(std::string_view body);
StatusOr<std::vector<ContainerSummary>> parseContainerList(std::string_view body);
StatusOr<int> parseWaitResult(std::string_view body);  // {"StatusCode": n}

struct ExecState {
  bool running = false;
  std::optional<int> exit_code;
};
StatusOr<ExecState> parseExecInspect(std::string_view body);

// The JSON-lines progress stream of pull, import and load: one object per
// line, split anywhere across feed() calls. Progress lines go to the
// callback; a line carrying "error" makes feed()/finish() return it.
class ProgressStream {
 public:
  ProgressStream(std::string what, PullProgressFn on_progress)
      : what_(std::move(what)), on_progress_(std::move(on_progress)) {}

  Status feed(std::string_view chunk);
  // Parses a final line without newline; returns the first error seen.
  Status finish();
  // The last "status" text (import reports the new image id there).
  const std::string& lastStatus() const { return last_status_; }

 private:
  Status line(std::string_view text);

  std::string what_;
  PullProgressFn on_progress_;
  std::string partial_;
  std::string last_status_;
  Status error_;
};

}  // namespace kitgate::docker::api
