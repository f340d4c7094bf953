#include "orchestrator/sandbox/host_firewall.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

extern char** environ;

namespace kitgate::sandbox {

namespace {

std::string findIptables() {
  if (const char* env = std::getenv("KITGATE_IPTABLES"); env != nullptr && *env != '\0') return env;
  for (const char* p : {"/usr/sbin/iptables", "/sbin/iptables", "/usr/bin/iptables"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// Runs iptables with `args`; returns its exit code (or -1 when it could not run).
int runIptables(const std::string& binary, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {binary, "-w"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class IptablesFirewall final : public HostFirewall {
 public:
  Status isolate(const std::string& name, const std::string& subnet, const std::string& gateway,
                 int port) override {
    const std::string bin = findIptables();
    if (bin.empty()) {
      return Status::error(
          "iptables not found; kitgate needs it to stop sandboxes reaching host services directly "
          "(install the iptables package or set KITGATE_IPTABLES)");
    }
    // From a clean slate: DROP first, then ACCEPT inserted above it.
    if (Status s = release(name, subnet, gateway, port); !s.isOk()) return s;
    for (const auto& rule : {dropRule(name, subnet), acceptRule(name, subnet, gateway, port),
                             loopbackRule(name, subnet), repliesRule(name, subnet)}) {
      if (int rc = runIptables(bin, prefixed("-I", rule)); rc != 0) {
        return Status::error("iptables -I INPUT for sandbox " + name + " failed (exit " +
                             std::to_string(rc) + "); kitgate must run as root, like Docker");
      }
    }
    return Status::ok();
  }

  Status release(const std::string& name, const std::string& subnet, const std::string& gateway,
                 int port) override {
    const std::string bin = findIptables();
    if (bin.empty()) return Status::ok();
    for (const auto& rule : {repliesRule(name, subnet), loopbackRule(name, subnet),
                             acceptRule(name, subnet, gateway, port), dropRule(name, subnet)}) {
      for (int i = 0; i < 8 && runIptables(bin, prefixed("-C", rule)) == 0; ++i) {
        if (runIptables(bin, prefixed("-D", rule)) != 0) {
          return Status::error("iptables -D INPUT for sandbox " + name + " failed");
        }
      }
    }
    return Status::ok();
  }

 private:
  static std::vector<std::string> prefixed(const char* op, const std::vector<std::string>& rule) {
    std::vector<std::string> out = {op, "INPUT"};
    out.insert(out.end(), rule.begin(), rule.end());
    return out;
  }
  static std::vector<std::string> dropRule(const std::string& name, const std::string& subnet) {
    return {"-s", subnet, "-m", "comment", "--comment", "kitgate:" + name, "-j", "DROP"};
  }
  // The host talking to itself on the gateway address (kitgate's probe of
  // the proxy, and the proxy's answers): only locally made packets arrive on
  // lo, so a sandbox cannot use this.
  static std::vector<std::string> loopbackRule(const std::string& name, const std::string& subnet) {
    return {"-i", "lo",    "-s", subnet, "-m", "comment", "--comment", "kitgate:" + name,
            "-j", "ACCEPT"};
  }
  // Answers to connections the host opened (the port forwarder reaching a
  // published port): conntrack only admits them after the host's own SYN.
  static std::vector<std::string> repliesRule(const std::string& name, const std::string& subnet) {
    return {"-s", subnet,    "-m",        "conntrack",       "--ctstate", "ESTABLISHED",
            "-m", "comment", "--comment", "kitgate:" + name, "-j",        "ACCEPT"};
  }
  static std::vector<std::string> acceptRule(const std::string& name, const std::string& subnet,
                                             const std::string& gateway, int port) {
    return {"-s", subnet,    "-d",        gateway,
            "-p", "tcp",     "--dport",   std::to_string(port),
            "-m", "comment", "--comment", "kitgate:" + name,
            "-j", "ACCEPT"};
  }
};

}  // namespace

std::unique_ptr<HostFirewall> makeIptablesFirewall() {
  return std::make_unique<IptablesFirewall>();
}

}  // namespace kitgate::sandbox
