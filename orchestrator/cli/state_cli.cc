// Helpers of the state-directory subcommands (state_cli.h).
#include "orchestrator/cli/state_cli.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <ostream>

#include "orchestrator/cli/sandbox_cli.h"
#include "orchestrator/privd/client.h"

namespace kitgate::cli {

bool ArgCursor::flag(std::initializer_list<std::string_view> names) {
  if (done()) return false;
  for (auto n : names) {
    if (args_[i_] == n) {
      ++i_;
      return true;
    }
  }
  return false;
}

bool ArgCursor::option(std::initializer_list<std::string_view> names, std::string* value,
                       std::string* error) {
  if (done()) return false;
  const std::string& a = args_[i_];
  for (auto n : names) {
    if (a == n) {
      if (i_ + 1 >= args_.size()) {
        *error = std::string(n) + " needs a value";
        i_ = args_.size();
        return true;
      }
      *value = args_[i_ + 1];
      i_ += 2;
      return true;
    }
    if (n.size() > 2 && a.size() > n.size() && a.compare(0, n.size(), n) == 0 &&
        a[n.size()] == '=') {
      *value = a.substr(n.size() + 1);
      ++i_;
      return true;
    }
  }
  return false;
}

void printTable(std::ostream& out, bool color, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c)
      width[c] = std::max(width[c], row[c].size());
  };
  measure(header);
  for (const auto& r : rows) measure(r);
  auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
      text += row[c];
      if (c + 1 < row.size()) text += std::string(width[c] - row[c].size() + 2, ' ');
    }
    return text;
  };
  out << (color ? "\033[1m" : "") << line(header) << (color ? "\033[0m" : "") << "\n";
  for (const auto& r : rows) out << line(r) << "\n";
}

int usageError(Io& io, std::string_view cmd, std::string_view usage, const std::string& message) {
  io.err << "kitgate " << cmd << ": " << message << "\n\n" << usage;
  return kExitUsage;
}

int fail(Io& io, std::string_view cmd, const std::string& message) {
  io.err << "kitgate " << cmd << ": " << (io.err_color ? "\033[31merror:\033[0m " : "error: ")
         << message << "\n";
  return kExitFailed;
}

StatusOr<state::Paths> openState() {
  state::Paths paths = state::defaultPaths();
  Status st = state::ensureDirs(paths);
  if (!st) {
    return Status::error(st.message() + " (set KITGATE_STATE_DIR to a writable directory)");
  }
  return paths;
}

StatusOr<std::unique_ptr<stateops::StateService>> openStateService() {
  if (usesDaemon()) {
    const std::string socket = privd::defaultSocketPath();
    struct stat info {};
    const bool daemon = ::stat(socket.c_str(), &info) == 0 && S_ISSOCK(info.st_mode);
    const char* own = std::getenv("KITGATE_STATE_DIR");
    if (!daemon && (own == nullptr || *own == '\0')) {
      // No daemon: its client's error names the fix (start it, or sudo).
      auto hello = privd::callOk(socket, privd::Request{});
      if (!hello.isOk()) return hello.status();
    }
    if (daemon || own == nullptr || *own == '\0') return privd::makeDaemonStateService(socket);
  }
  auto paths = openState();
  if (!paths) return paths.status();
  return stateops::makeLocalStateService(*paths);
}

void splitList(std::string_view text, std::vector<std::string>* out) {
  for (size_t start = 0; start <= text.size();) {
    size_t comma = std::min(text.find(',', start), text.size());
    std::string_view item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out->emplace_back(item);
    start = comma + 1;
  }
}

bool stdinIsTerminal() { return ::isatty(STDIN_FILENO) == 1; }

bool confirm(Io& io, std::string_view question) {
  io.err << question << " (y/N) " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes" || answer == "YES";
}

}  // namespace kitgate::cli
