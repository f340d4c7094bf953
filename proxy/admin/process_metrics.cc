#include "proxy/admin/process_metrics.h"

#include <dirent.h>
#include <linux/magic.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "proxy/admin/families.h"

namespace kitgate::admin {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The number in `s`, if all of it is one.
std::optional<double> number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

// Fields of /proc/<pid>/stat after the command name (which may contain
// spaces and parentheses: everything up to the last ')'). Index 0 is field 3
// ("state") of proc(5).
std::vector<std::string> statFields(const std::string& stat) {
  std::vector<std::string> f;
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return f;
  std::istringstream in(stat.substr(close + 1));
  std::string tok;
  while (in >> tok) f.push_back(tok);
  return f;
}

// Open descriptors in `fd_dir`. On procfs since Linux 6.2 the directory's
// size is that number (a bitmap count, microseconds); listing it instead
// costs ~40 ms at 20,000 fds, which a proxy holding 10,000 tunnels has.
std::optional<double> openFds(const std::string& fd_dir) {
  struct statfs fs {};
  struct stat st {};
  if (::statfs(fd_dir.c_str(), &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC &&
      ::stat(fd_dir.c_str(), &st) == 0 && st.st_size > 0) {
    return static_cast<double>(st.st_size);
  }
  DIR* d = ::opendir(fd_dir.c_str());
  if (d == nullptr) return std::nullopt;
  // Not counted: "." "..", and the descriptor this listing holds open.
  const std::string own = std::to_string(::dirfd(d));
  double n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.' && own != e->d_name) ++n;
  }
  ::closedir(d);
  return n;
}

class ProcessCollector final : public prometheus::Collectable {
 public:
  ProcessCollector(std::string dir, std::string proc_stat)
      : dir_(std::move(dir)), proc_stat_(std::move(proc_stat)) {}

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> out;
    auto add = [&out](const char* name, const char* help, MetricType type, double v) {
      sample(family(out, name, help, type), v);
    };
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    if (auto stat = readFile(dir_ + "/stat")) {
      // proc(5) numbers the fields from 1; statFields() starts at field 3.
      auto f = statFields(*stat);
      auto field = [&f](size_t n) { return f.size() > n - 3 ? number(f[n - 3]) : std::nullopt; };
      auto utime = field(14), stime = field(15), start = field(22), vsize = field(23),
           rss = field(24);
      if (utime && stime && ticks > 0) {
        add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
            MetricType::Counter, (*utime + *stime) / ticks);
      }
      if (vsize)
        add("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
            *vsize);
      if (rss)
        add("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
            *rss * page);
      auto boot = bootTime();
      if (start && boot && ticks > 0) {
        add("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
            MetricType::Gauge, *boot + *start / ticks);
      }
    }
    if (auto n = openFds(dir_ + "/fd")) {
      add("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, *n);
    }
    if (auto limits = readFile(dir_ + "/limits")) {
      std::istringstream in(*limits);
      std::string line;
      while (std::getline(in, line)) {
        if (line.rfind("Max open files", 0) != 0) continue;
        std::istringstream fields(line.substr(std::string("Max open files").size()));
        std::string soft;
        fields >> soft;
        if (auto v = number(soft)) {
          add("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge, *v);
        }
      }
    }
    return out;
  }

 private:
  std::optional<double> bootTime() const {
    auto s = readFile(proc_stat_);
    if (!s) return std::nullopt;
    std::istringstream in(*s);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("btime ", 0) == 0) return number(line.substr(6));
    }
    return std::nullopt;
  }

  std::string dir_;
  std::string proc_stat_;
};

}  // namespace

std::unique_ptr<prometheus::Collectable> makeProcessCollector(std::string proc_dir,
                                                              std::string proc_stat) {
  return std::make_unique<ProcessCollector>(std::move(proc_dir), std::move(proc_stat));
}

}  // namespace kitgate::admin
