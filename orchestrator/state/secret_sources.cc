#include "orchestrator/state/secret_sources.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "proxy/common/unique_fd.h"

namespace kitgate::state {

namespace {

constexpr size_t kMaxOutput = 64 * 1024;
constexpr std::string_view kOpPrefix = "op://";
constexpr std::string_view kAwsPrefix = "arn:aws:secretsmanager:";

std::string scopeText(const std::string& scope) {
  return scope == kGlobalScope ? "global" : "sandbox " + scope.substr(scope.find(':') + 1);
}

std::string label(const SecretSource& s) { return s.name + " (" + scopeText(s.scope) + ")"; }

// Why a command's stdout is not a usable value; never quotes it.
std::string valueProblem(std::string_view v) {
  if (v.empty()) return "printed nothing";
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u == '\n') return "printed more than one line";
    if (u < 0x20 || u == 0x7f) return "printed a control character";
  }
  if (v.front() == ' ' || v.back() == ' ')
    return "printed a value that starts or ends with a space";
  return {};
}

// The last `max` characters of `text`, on one line.
std::string tail(std::string text, size_t max) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  if (text.size() > max) text = "…" + text.substr(text.size() - max);
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

const char* stateName(SecretSource::State s) {
  switch (s) {
    case SecretSource::State::kOk:
      return "ok";
    case SecretSource::State::kFailing:
      return "failing";
    case SecretSource::State::kExpired:
      return "expired";
  }
  return "ok";
}

// The secrets.yaml entry of a source: its value, or nullptr.
std::string* entryValue(Secrets& secrets, const SecretSource& s) {
  if (s.kind == SecretSource::Kind::kService) {
    for (auto& e : secrets.services)
      if (e.service == s.name && e.scope == s.scope) return &e.value;
  } else {
    for (auto& e : secrets.custom)
      if (e.env == s.name && e.scope == s.scope) return &e.value;
  }
  return nullptr;
}

void removeEntry(Secrets& secrets, const SecretSource& s) {
  if (s.kind == SecretSource::Kind::kService) {
    std::erase_if(secrets.services, [&](const ServiceSecret& e) {
      return e.service == s.name && e.scope == s.scope;
    });
  } else {
    std::erase_if(secrets.custom,
                  [&](const CustomSecret& e) { return e.env == s.name && e.scope == s.scope; });
  }
}

}  // namespace

void setSecretValue(Secrets& secrets, const SecretSource& s, std::string value) {
  if (std::string* v = entryValue(secrets, s)) {
    *v = std::move(value);
  } else if (s.kind == SecretSource::Kind::kService) {
    secrets.services.push_back({s.name, s.scope, std::move(value)});
  } else {
    secrets.custom.push_back({s.scope, s.hosts, s.name, s.placeholder, std::move(value)});
  }
}

std::string SecretSource::describe() const {
  return command.empty() ? "ref " + ref : "command '" + command + "'";
}

StatusOr<int64_t> parseRefresh(std::string_view text) {
  if (text == "on-demand") return int64_t{0};
  const std::string bad = "invalid --refresh \"" + std::string(text) +
                          "\": use on-demand or a duration such as 55m, 1h, 90s, 1h30m";
  if (text.empty()) return Status::error(bad);
  int64_t total = 0;
  while (!text.empty()) {
    int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end == text.data() || end == text.data() + text.size() || n <= 0 ||
        n > 1'000'000) {
      return Status::error(bad);
    }
    int64_t unit = 0;
    switch (*end) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      default:
        return Status::error(bad);
    }
    total += n * unit;
    text.remove_prefix(static_cast<size_t>(end - text.data()) + 1);
  }
  return total;
}

std::string formatRefresh(int64_t s) {
  if (s <= 0) return "on-demand";
  std::string out;
  for (auto [unit, suffix] :
       {std::pair<int64_t, char>{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}}) {
    if (s >= unit) {
      out += std::to_string(s / unit) + suffix;
      s %= unit;
    }
  }
  return out;
}

int64_t defaultRefresh(SecretSource::Kind kind) {
  return kind == SecretSource::Kind::kService ? 55 * 60 : 0;
}

StatusOr<std::vector<std::string>> sourceArgv(const SecretSource& s) {
  if (!s.command.empty()) return std::vector<std::string>{"sh", "-c", s.command};
  if (s.ref.starts_with(kOpPrefix)) return std::vector<std::string>{"op", "read", s.ref};
  if (s.ref.starts_with(kAwsPrefix)) {
    return std::vector<std::string>{"aws", "secretsmanager", "get-secret-value", "--secret-id",
                                    s.ref, "--query",        "SecretString",     "--output",
                                    "text"};
  }
  return Status::error("unsupported --ref \"" + s.ref +
                       "\": use op://VAULT/ITEM/FIELD (1Password CLI) or "
                       "arn:aws:secretsmanager:… (AWS CLI)");
}

HostUser invokingUser(uid_t uid, gid_t gid, const char* sudo_uid, const char* sudo_gid) {
  HostUser u{uid, gid};
  if (uid != 0 || sudo_uid == nullptr || sudo_gid == nullptr) return u;
  unsigned long su = 0, sg = 0;
  const std::string_view a(sudo_uid), b(sudo_gid);
  auto ra = std::from_chars(a.data(), a.data() + a.size(), su);
  auto rb = std::from_chars(b.data(), b.data() + b.size(), sg);
  if (ra.ec != std::errc() || ra.ptr != a.data() + a.size() || rb.ec != std::errc() ||
      rb.ptr != b.data() + b.size()) {
    return u;
  }
  return HostUser{static_cast<uid_t>(su), static_cast<gid_t>(sg)};
}

StatusOr<std::string> ProcessSourceRunner::resolve(const SecretSource& source) const {
  auto argv = sourceArgv(source);
  if (!argv) return argv.status();
  const std::string what = source.describe();
  if (::geteuid() != 0 && ::geteuid() != source.uid) {
    return Status::error(what + ": set by uid " + std::to_string(source.uid) +
                         "; run kitgate as that user (or root) to resolve it");
  }
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0)
    return Status::error(what + ": pipe: " + std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return Status::error(what + ": pipe: " + std::strerror(errno));
  }
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]), err_r(err_pipe[0]), err_w(err_pipe[1]);
  std::vector<char*> cargv;
  for (std::string& a : *argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  // Resolved before fork: the child only calls async-signal-safe functions.
  const passwd* pw = ::getpwuid(source.uid);
  const std::string home = pw != nullptr ? pw->pw_dir : "/";
  const std::string user = pw != nullptr ? pw->pw_name : std::to_string(source.uid);
  std::vector<gid_t> groups;
  if (pw != nullptr) {
    int n = 64;
    groups.resize(static_cast<size_t>(n));
    if (::getgrouplist(pw->pw_name, source.gid, groups.data(), &n) < 0) {
      groups.resize(static_cast<size_t>(n));
      ::getgrouplist(pw->pw_name, source.gid, groups.data(), &n);
    }
    groups.resize(static_cast<size_t>(std::max(n, 0)));
  }
  const bool switch_user = ::geteuid() == 0 && source.uid != 0;
  // The environment: kitgate's own, with the user's HOME/USER/LOGNAME when
  // switching to them (sudo keeps root's).
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view kv(*e);
    if (switch_user &&
        (kv.starts_with("HOME=") || kv.starts_with("USER=") || kv.starts_with("LOGNAME="))) {
      continue;
    }
    env.emplace_back(kv);
  }
  if (switch_user) {
    env.push_back("HOME=" + home);
    env.push_back("USER=" + user);
    env.push_back("LOGNAME=" + user);
  }
  std::vector<char*> cenv;
  for (std::string& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) return Status::error(what + ": fork: " + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(out_w.get(), STDOUT_FILENO);
    ::dup2(err_w.get(), STDERR_FILENO);
    if (switch_user) {
      if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(source.gid) != 0 ||
          ::setuid(source.uid) != 0) {
        static constexpr char kMsg[] = "kitgate: cannot switch to the secret's user\n";
        (void)!::write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
        ::_exit(126);
      }
      if (::chdir(home.c_str()) != 0) (void)!::chdir("/");
    }
    ::execvpe(cargv[0], cargv.data(), cenv.data());
    ::_exit(127);
  }
  out_w.reset();
  err_w.reset();

  std::string out, err;
  bool timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s_);
  pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  std::string* sinks[2] = {&out, &err};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    const int r = ::poll(fds, 2, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;  // timeout: the loop's check ends it
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        fds[i].fd = -1;
        --open_fds;
      } else if (sinks[i]->size() < kMaxOutput) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      }
    }
  }
  if (timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    std::fill(out.begin(), out.end(), '\0');
    return Status::error(what + ": did not finish within " + std::to_string(timeout_s_) + "s");
  }
  const bool exited_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!exited_ok) {
    std::fill(out.begin(), out.end(), '\0');
    std::string msg = what;
    if (WIFEXITED(status)) {
      msg += ": exited with status " + std::to_string(WEXITSTATUS(status));
      if (WEXITSTATUS(status) == 127) msg += " (" + (*argv)[0] + " not found?)";
    } else {
      msg += ": killed by signal " + std::to_string(WTERMSIG(status));
    }
    if (source.show_error) {
      if (const std::string e = tail(err, 400); !e.empty()) msg += ": " + e;
    } else if (!err.empty()) {
      msg += " (--show-error shows its error output)";
    }
    return Status::error(msg);
  }
  if (out.size() >= kMaxOutput) return Status::error(what + ": printed more than 64 KiB");
  if (!out.empty() && out.back() == '\n') out.pop_back();
  if (!out.empty() && out.back() == '\r') out.pop_back();
  if (const std::string problem = valueProblem(out); !problem.empty()) {
    std::fill(out.begin(), out.end(), '\0');
    return Status::error(what + ": " + problem + " (a secret is one line on stdout)");
  }
  return out;
}

std::string sourcesFile(const Paths& paths) { return paths.root + "/secret-sources.json"; }

StatusOr<std::vector<SecretSource>> loadSources(const Paths& paths) {
  const std::string file = sourcesFile(paths);
  std::ifstream in(file);
  if (!in) return std::vector<SecretSource>{};
  const nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  const std::string bad = file + ": not a kitgate secret-sources file; fix or remove it";
  if (!doc.is_object() || !doc.contains("sources") || !doc["sources"].is_array())
    return Status::error(bad);
  std::vector<SecretSource> out;
  for (const auto& j : doc["sources"]) {
    if (!j.is_object()) return Status::error(bad);
    SecretSource s;
    try {
      s.kind = j.at("kind").get<std::string>() == "custom" ? SecretSource::Kind::kCustom
                                                           : SecretSource::Kind::kService;
      s.scope = j.at("scope").get<std::string>();
      s.name = j.at("name").get<std::string>();
      s.hosts = j.value("hosts", std::vector<std::string>{});
      s.placeholder = j.value("placeholder", std::string());
      s.command = j.value("command", std::string());
      s.ref = j.value("ref", std::string());
      s.refresh_s = j.value("refresh", int64_t{0});
      s.show_error = j.value("show_error", false);
      s.uid = j.value("uid", uid_t{0});
      s.gid = j.value("gid", gid_t{0});
      s.fetched_at = j.value("fetched_at", int64_t{0});
      s.expires_at = j.value("expires_at", int64_t{0});
      const std::string st = j.value("state", std::string("ok"));
      s.state = st == "failing"   ? SecretSource::State::kFailing
                : st == "expired" ? SecretSource::State::kExpired
                                  : SecretSource::State::kOk;
      s.error = j.value("error", std::string());
    } catch (const nlohmann::json::exception&) {
      return Status::error(bad);
    }
    if (s.command.empty() == s.ref.empty()) return Status::error(bad);
    out.push_back(std::move(s));
  }
  return out;
}

Status saveSources(const Paths& paths, const std::vector<SecretSource>& sources) {
  if (sources.empty()) {
    if (::unlink(sourcesFile(paths).c_str()) != 0 && errno != ENOENT)
      return Status::error(sourcesFile(paths) + ": " + std::strerror(errno));
    return Status::ok();
  }
  nlohmann::json doc = {{"sources", nlohmann::json::array()}};
  for (const SecretSource& s : sources) {
    nlohmann::json j = {{"kind", s.kind == SecretSource::Kind::kCustom ? "custom" : "service"},
                        {"scope", s.scope},
                        {"name", s.name},
                        {"refresh", s.refresh_s},
                        {"show_error", s.show_error},
                        {"uid", s.uid},
                        {"gid", s.gid},
                        {"fetched_at", s.fetched_at},
                        {"expires_at", s.expires_at},
                        {"state", stateName(s.state)},
                        {"error", s.error}};
    if (!s.command.empty()) j["command"] = s.command;
    if (!s.ref.empty()) j["ref"] = s.ref;
    if (s.kind == SecretSource::Kind::kCustom) {
      j["hosts"] = s.hosts;
      j["placeholder"] = s.placeholder;
    }
    doc["sources"].push_back(std::move(j));
  }
  return writeFileAtomic(sourcesFile(paths), doc.dump(2) + "\n", 0600);
}

bool refreshDue(const SecretSource& s, int64_t now) {
  if (s.refresh_s <= 0) return false;
  if (s.state != SecretSource::State::kOk) return true;
  const int64_t margin = std::min<int64_t>(s.refresh_s / 5, 300);
  return now >= s.expires_at - margin;
}

RefreshReport refreshSources(std::vector<SecretSource>& sources, Secrets& secrets,
                             const SourceRunner& runner, int64_t now, RefreshTrigger trigger,
                             const SecretSource* only) {
  RefreshReport report;
  for (SecretSource& s : sources) {
    if (only != nullptr && !s.sameSecret(*only)) continue;
    const bool selected = trigger == RefreshTrigger::kAll || refreshDue(s, now) ||
                          (trigger == RefreshTrigger::kLaunch && s.refresh_s <= 0);
    if (!selected) continue;
    auto value = runner.resolve(s);
    if (value) {
      setSecretValue(secrets, s, std::move(*value));
      s.fetched_at = now;
      s.expires_at = s.refresh_s > 0 ? now + s.refresh_s : 0;
      s.state = SecretSource::State::kOk;
      s.error.clear();
      report.resolved.push_back(label(s));
      report.changed = true;
      continue;
    }
    s.error = value.status().message();
    report.changed = true;
    const bool have_value = entryValue(secrets, s) != nullptr;
    const bool expired = s.expires_at != 0 && now >= s.expires_at;
    if (have_value && !expired) {
      s.state = SecretSource::State::kFailing;
      report.errors.push_back(label(s) + ": " + s.error + "; keeping the last value" +
                              (s.expires_at != 0 ? " until it expires" : ""));
    } else {
      removeEntry(secrets, s);
      s.state = SecretSource::State::kExpired;
      report.errors.push_back(
          label(s) + ": " + s.error +
          (have_value ? "; its last value expired and is no longer injected" : "; no value"));
    }
  }
  return report;
}

void syncSources(std::vector<SecretSource>& sources, const Secrets& secrets) {
  std::erase_if(sources, [&](SecretSource& s) {
    if (s.kind == SecretSource::Kind::kService) {
      const bool present = std::any_of(
          secrets.services.begin(), secrets.services.end(),
          [&](const ServiceSecret& e) { return e.service == s.name && e.scope == s.scope; });
      return !present && s.state != SecretSource::State::kExpired;
    }
    for (const CustomSecret& e : secrets.custom) {
      if (e.env == s.name && e.scope == s.scope) {
        s.hosts = e.hosts;
        s.placeholder = e.placeholder;
        return false;
      }
    }
    return s.state != SecretSource::State::kExpired;
  });
}

}  // namespace kitgate::state
