// process_* metrics: read from a /proc fixture (exact values) and from the
// real /proc/self (present and plausible).
#include "proxy/admin/process_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace kitgate::admin {
namespace {

namespace fs = std::filesystem;

std::map<std::string, double> collect(const prometheus::Collectable& c) {
  std::map<std::string, double> v;
  for (const auto& f : c.Collect()) {
    const auto& m = f.metric.at(0);
    v[f.name] = f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
  }
  return v;
}

class ProcFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kitgate-proc-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "fd");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  fs::path dir_;
};

TEST_F(ProcFixture, ReadsEveryStandardMetric) {
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  // The command name holds spaces and a ')' to prove the fields are counted
  // from the last ')'. utime 14 = 250 ticks, stime 15 = 50, starttime 22 =
  // 1000, vsize 23, rss 24 = 10 pages.
  write("stat",
        "42 (kit gate) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 123456789 10 "
        "18446744073709551615\n");
  write("stat-global", "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n");
  write("limits",
        "Limit                     Soft Limit           Hard Limit           Units\n"
        "Max open files            1024                 4096                 files\n");
  for (const char* fd : {"0", "1", "2"}) std::ofstream(dir_ / "fd" / fd) << "";
  auto c = makeProcessCollector(dir_.string(), (dir_ / "stat-global").string());
  auto v = collect(*c);
  EXPECT_DOUBLE_EQ(v.at("process_cpu_seconds_total"), 300 / tick);
  EXPECT_DOUBLE_EQ(v.at("process_start_time_seconds"), 1700000000 + 1000 / tick);
  EXPECT_DOUBLE_EQ(v.at("process_virtual_memory_bytes"), 123456789);
  EXPECT_DOUBLE_EQ(v.at("process_resident_memory_bytes"), 10 * page);
  EXPECT_EQ(v.at("process_open_fds"), 3);
  EXPECT_EQ(v.at("process_max_fds"), 1024);
}

TEST_F(ProcFixture, UnreadableOrMalformedValuesAreLeftOutNotInvented) {
  write("stat", "42 (short) S 1 2\n");  // too few fields
  write("limits", "Max open files            unlimited            unlimited            files\n");
  fs::remove_all(dir_ / "fd");
  auto v = collect(*makeProcessCollector(dir_.string(), (dir_ / "missing").string()));
  EXPECT_TRUE(v.empty()) << v.begin()->first;
}

TEST(ProcessCollector, RealProcessValuesArePlausible) {
  auto v = collect(*makeProcessCollector());
  for (const char* name : {"process_cpu_seconds_total", "process_open_fds", "process_max_fds",
                           "process_virtual_memory_bytes", "process_resident_memory_bytes",
                           "process_start_time_seconds"}) {
    EXPECT_TRUE(v.count(name)) << name;
  }
  EXPECT_GE(v["process_open_fds"], 3);  // stdin, stdout, stderr at least
  EXPECT_GT(v["process_resident_memory_bytes"], 0);
  // Started after 2020, not in the future.
  EXPECT_GT(v["process_start_time_seconds"], 1.58e9);
  EXPECT_LE(v["process_start_time_seconds"], static_cast<double>(::time(nullptr)) + 1);
}

// The fast count (procfs directory size) and a listing agree, and follow
// descriptors as they open and close.
TEST(ProcessCollector, OpenFdsFollowDescriptors) {
  auto c = makeProcessCollector();
  const double before = collect(*c).at("process_open_fds");
  std::vector<int> fds;
  for (int i = 0; i < 50; ++i) fds.push_back(::dup(2));
  EXPECT_EQ(collect(*c).at("process_open_fds"), before + 50);
  size_t listed = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/fd"))
    listed += e.path().filename().string()[0] != '.';
  // The listing holds one descriptor of its own while it runs.
  EXPECT_EQ(static_cast<double>(listed - 1), before + 50);
  for (int fd : fds) ::close(fd);
  EXPECT_EQ(collect(*c).at("process_open_fds"), before);
}

}  // namespace
}  // namespace kitgate::admin
