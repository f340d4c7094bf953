#include "orchestrator/sandbox/run_record.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "orchestrator/state/state.h"
#include "proxy/common/base64.h"

namespace kitgate::sandbox {

namespace {

constexpr std::string_view kSuffix = ".json";

std::string recordPath(const std::string& run_dir, const std::string& name) {
  return run_dir + "/" + name + std::string(kSuffix);
}

nlohmann::json renderStep(const SetupStep& s) {
  nlohmann::json j = {{"stage", s.stage}, {"description", s.description}, {"gating", s.gating}};
  if (s.kind == StepKind::kArchive) {
    j["dir"] = s.dir;
    j["tar"] = base64Encode(s.tar);
  } else {
    j["argv"] = s.argv;
    j["user"] = s.user;
    j["workingDir"] = s.working_dir;
  }
  return j;
}

StatusOr<SetupStep> parseStep(const nlohmann::json& j) {
  if (!j.is_object()) return Status::error("a restart step is not an object");
  SetupStep s;
  auto str = [&](const char* key, std::string* out) {
    auto it = j.find(key);
    if (it != j.end() && it->is_string()) *out = it->get<std::string>();
  };
  str("stage", &s.stage);
  str("description", &s.description);
  if (auto g = j.find("gating"); g != j.end() && g->is_boolean()) s.gating = g->get<bool>();
  if (j.contains("tar")) {
    s.kind = StepKind::kArchive;
    str("dir", &s.dir);
    std::string text;
    str("tar", &text);
    auto tar = base64Decode(text);
    if (!tar) return Status::error("restart step \"" + s.description + "\": bad archive");
    s.tar = std::move(*tar);
    return s;
  }
  s.kind = StepKind::kExec;
  if (auto a = j.find("argv"); a != j.end() && a->is_array()) {
    for (const auto& v : *a) {
      if (v.is_string()) s.argv.push_back(v.get<std::string>());
    }
  }
  if (s.argv.empty()) return Status::error("restart step \"" + s.description + "\": no argv");
  str("user", &s.user);
  str("workingDir", &s.working_dir);
  return s;
}

}  // namespace

std::string renderRunRecord(const RunRecord& r) {
  nlohmann::json j = {
      {"name", r.name},
      {"agent", r.agent},
      {"kit", r.kit},
      {"image", r.image},
      {"workspace", r.workspace},
      {"containerId", r.container_id},
      {"container", r.container},
      {"network", r.network},
      {"subnet", r.subnet},
      {"proxyListen", r.proxy_listen},
      {"volumes", r.volumes},
      {"created", r.created},
  };
  j["ports"] = r.ports;
  j["published"] = nlohmann::json::array();
  for (const PublishedPort& p : r.published) {
    j["published"].push_back({{"container", p.container}, {"host", p.host}});
  }
  j["restart"] = nlohmann::json::array();
  for (const SetupStep& s : r.restart) j["restart"].push_back(renderStep(s));
  return j.dump(2) + "\n";
}

StatusOr<RunRecord> parseRunRecord(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::error("not a JSON object");
  RunRecord r;
  auto str = [&](const char* key, std::string* out) {
    auto it = j.find(key);
    if (it != j.end() && it->is_string()) *out = it->get<std::string>();
  };
  str("name", &r.name);
  str("agent", &r.agent);
  str("kit", &r.kit);
  str("image", &r.image);
  str("workspace", &r.workspace);
  str("containerId", &r.container_id);
  str("container", &r.container);
  str("network", &r.network);
  str("subnet", &r.subnet);
  str("proxyListen", &r.proxy_listen);
  str("created", &r.created);
  auto vols = j.find("volumes");
  if (vols != j.end() && vols->is_array()) {
    for (const auto& v : *vols) {
      if (v.is_string()) r.volumes.push_back(v.get<std::string>());
    }
  }
  if (auto ports = j.find("ports"); ports != j.end() && ports->is_array()) {
    for (const auto& p : *ports) {
      if (p.is_number_integer()) r.ports.push_back(p.get<int>());
    }
  }
  if (auto pub = j.find("published"); pub != j.end() && pub->is_array()) {
    for (const auto& p : *pub) {
      if (p.is_object() && p.value("container", 0) > 0) {
        r.published.push_back({p.value("container", 0), p.value("host", std::string())});
      }
    }
  }
  if (auto steps = j.find("restart"); steps != j.end() && steps->is_array()) {
    for (const auto& step : *steps) {
      auto parsed = parseStep(step);
      if (!parsed.isOk()) return parsed.status();
      r.restart.push_back(std::move(*parsed));
    }
  }
  if (r.name.empty()) return Status::error("no \"name\"");
  return r;
}

Status saveRunRecord(const std::string& run_dir, const RunRecord& record) {
  return state::writeFileAtomic(recordPath(run_dir, record.name), renderRunRecord(record), 0600);
}

StatusOr<RunRecord> loadRunRecord(const std::string& run_dir, const std::string& name) {
  std::ifstream in(recordPath(run_dir, name));
  if (!in) return Status::error("no sandbox named \"" + name + "\" (see `kitgate ls`)");
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = parseRunRecord(ss.str());
  if (!r.isOk()) {
    return Status::error(recordPath(run_dir, name) + ": " + r.status().message());
  }
  return r;
}

Status removeRunRecord(const std::string& run_dir, const std::string& name) {
  std::string path = recordPath(run_dir, name);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::error("remove " + path + ": " + std::strerror(errno));
  }
  return Status::ok();
}

std::vector<std::string> listRunRecords(const std::string& run_dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(run_dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.empty() || n[0] == '.' || n.size() <= kSuffix.size()) continue;
    if (n.compare(n.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) continue;
    names.push_back(n.substr(0, n.size() - kSuffix.size()));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace kitgate::sandbox
