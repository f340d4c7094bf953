#include "orchestrator/sandbox/host_firewall.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

extern char** environ;

namespace kitgate::sandbox {

std::string firewallTag(const std::string& name) { return "kitgate:" + name; }

std::string bridgeName(const std::string& network_id) { return "br-" + network_id.substr(0, 12); }

std::vector<FirewallRule> sandboxRules(const FirewallSpec& s) {
  const std::string tag = firewallTag(s.name);
  const std::string proxy = std::to_string(s.proxy_port);
  const std::string transparent = std::to_string(s.transparent_port);
  const std::string dns = std::to_string(s.dns_port);
  auto v4 = [&](std::string table, std::string chain, std::vector<std::string> m) {
    std::vector<std::string> match = {"-s", s.subnet};
    const auto target = std::find(m.begin(), m.end(), "-j");
    match.insert(match.end(), m.begin(), target);
    match.insert(match.end(), {"-m", "comment", "--comment", tag});
    match.insert(match.end(), target, m.end());
    return FirewallRule{IpFamily::kV4, std::move(table), std::move(chain), std::move(match)};
  };
  auto v6 = [&](std::string chain) {
    return FirewallRule{IpFamily::kV6,
                        "filter",
                        std::move(chain),
                        {"-i", s.bridge, "-m", "comment", "--comment", tag, "-j", "DROP"}};
  };
  auto redirected = [&](const char* proto, const std::string& port) {
    return v4("filter", "INPUT",
              {"-d", s.gateway, "-p", proto, "--dport", port, "-m", "conntrack", "--ctstate",
               "DNAT", "-j", "ACCEPT"});
  };
  return {
      // Capture: the forward proxy stays as it is; DNS to kitgate; all other TCP transparent.
      v4("nat", "PREROUTING", {"-d", s.gateway, "-p", "tcp", "--dport", proxy, "-j", "RETURN"}),
      v4("nat", "PREROUTING", {"-p", "udp", "--dport", "53", "-j", "REDIRECT", "--to-ports", dns}),
      v4("nat", "PREROUTING",
         {"-d", s.gateway, "-p", "tcp", "--dport", "53", "-j", "REDIRECT", "--to-ports", dns}),
      v4("nat", "PREROUTING", {"-p", "tcp", "-j", "REDIRECT", "--to-ports", transparent}),
      // The host talking to itself on the gateway address (kitgate's probe of
      // the proxy, the proxy's answers): only locally made packets arrive on
      // lo, so a sandbox cannot use this.
      v4("filter", "INPUT", {"-i", "lo", "-j", "ACCEPT"}),
      // Answers to connections the host opened (the port forwarder reaching a
      // published port): conntrack only admits them after the host's own SYN.
      v4("filter", "INPUT", {"-m", "conntrack", "--ctstate", "ESTABLISHED", "-j", "ACCEPT"}),
      v4("filter", "INPUT", {"-d", s.gateway, "-p", "tcp", "--dport", proxy, "-j", "ACCEPT"}),
      // Only what a REDIRECT above sent there: dialled directly, these ports drop.
      redirected("tcp", transparent),
      redirected("udp", dns),
      redirected("tcp", dns),
      v4("filter", "INPUT", {"-j", "DROP"}),
      v4("filter", "FORWARD", {"-j", "DROP"}),
      v6("INPUT"),
      v6("FORWARD"),
  };
}

namespace {

std::string findBinary(const char* env_name, const char* base) {
  if (const char* env = std::getenv(env_name); env != nullptr && *env != '\0') return env;
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/"}) {
    const std::string p = std::string(dir) + base;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

// Runs `binary -w args…`; returns its exit code (-1 when it could not run).
// Its standard output goes to `out` when given, else to /dev/null.
int runTables(const std::string& binary, const std::vector<std::string>& args,
              std::string* out = nullptr) {
  std::vector<std::string> argv = {binary, "-w"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  int pipefd[2] = {-1, -1};
  if (out != nullptr && ::pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (out != nullptr) {
    posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
  } else {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  }
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (out != nullptr) {
    ::close(pipefd[1]);
    if (rc == 0) {
      char buf[4096];
      for (;;) {
        ssize_t n = ::read(pipefd[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out->append(buf, static_cast<size_t>(n));
      }
    }
    ::close(pipefd[0]);
  }
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The chains sandboxRules() writes to, per family.
const std::vector<std::pair<std::string, std::string>>& chainsOf(IpFamily f) {
  static const std::vector<std::pair<std::string, std::string>> v4 = {
      {"nat", "PREROUTING"}, {"filter", "INPUT"}, {"filter", "FORWARD"}};
  static const std::vector<std::pair<std::string, std::string>> v6 = {{"filter", "INPUT"},
                                                                      {"filter", "FORWARD"}};
  return f == IpFamily::kV4 ? v4 : v6;
}

class IptablesFirewall final : public HostFirewall {
 public:
  Status isolate(const FirewallSpec& spec) override {
    if (Status s = release(spec.name); !s.isOk()) return s;
    const std::vector<FirewallRule> rules = sandboxRules(spec);
    // Each rule inserted at the top of its chain: the last one first.
    for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
      auto bin = binary(it->family);
      if (!bin.isOk()) return bin.status();
      if (bin->empty()) continue;
      std::vector<std::string> args = {"-t", it->table, "-I", it->chain};
      args.insert(args.end(), it->match.begin(), it->match.end());
      if (int rc = runTables(*bin, args); rc != 0) {
        return Status::error(*bin + " -t " + it->table + " -I " + it->chain + " for sandbox " +
                             spec.name + " failed (exit " + std::to_string(rc) +
                             "); kitgate must run as root, like Docker");
      }
    }
    return Status::ok();
  }

  Status release(const std::string& name) override {
    const std::string tag = firewallTag(name);
    for (IpFamily f : {IpFamily::kV4, IpFamily::kV6}) {
      auto bin = binary(f);
      if (!bin.isOk() || bin->empty()) continue;  // nothing could have been added
      for (const auto& [table, chain] : chainsOf(f)) {
        std::string listing;
        if (runTables(*bin, {"-t", table, "-S", chain}, &listing) != 0) continue;
        std::istringstream lines(listing);
        for (std::string line; std::getline(lines, line);) {
          std::vector<std::string> words;
          std::istringstream in(line);
          for (std::string w; in >> w;) {
            if (w.size() >= 2 && w.front() == '"' && w.back() == '"') w = w.substr(1, w.size() - 2);
            words.push_back(std::move(w));
          }
          if (words.size() < 2 || words[0] != "-A" ||
              std::find(words.begin(), words.end(), tag) == words.end()) {
            continue;
          }
          words[0] = "-D";
          words.insert(words.begin(), {"-t", table});
          if (runTables(*bin, words) != 0) {
            return Status::error(*bin + " -t " + table + " -D " + chain + " for sandbox " + name +
                                 " failed");
          }
        }
      }
    }
    return Status::ok();
  }

 private:
  // The binary for `f`; "" = skip this family (IPv6 on a host without it).
  static StatusOr<std::string> binary(IpFamily f) {
    if (f == IpFamily::kV4) {
      std::string bin = findBinary("KITGATE_IPTABLES", "iptables");
      if (bin.empty()) {
        return Status::error(
            "iptables not found; kitgate needs it to make the proxy the sandbox's only way out "
            "(install the iptables package or set KITGATE_IPTABLES)");
      }
      return bin;
    }
    std::string bin = findBinary("KITGATE_IP6TABLES", "ip6tables");
    if (bin.empty() && ::access("/proc/net/if_inet6", F_OK) == 0) {
      return Status::error(
          "ip6tables not found; kitgate needs it to keep sandboxes off the host's IPv6 services "
          "(install the iptables package or set KITGATE_IP6TABLES)");
    }
    return bin;
  }
};

}  // namespace

std::unique_ptr<HostFirewall> makeIptablesFirewall() {
  return std::make_unique<IptablesFirewall>();
}

}  // namespace kitgate::sandbox
