// ProcessCollector: the standard process_* metrics every Prometheus client
// exports, read from /proc/self at scrape time (Linux):
//   process_cpu_seconds_total, process_open_fds, process_max_fds,
//   process_virtual_memory_bytes, process_resident_memory_bytes,
//   process_start_time_seconds.
// A value that cannot be read is left out of the scrape, never invented.
// Collect() runs on the scrape thread; nothing here touches the data path.
#pragma once

#include <memory>
#include <string>

namespace prometheus {
class Collectable;
}

namespace kitgate::admin {

// `proc_dir`: "/proc/self" (tests point it at a fixture directory).
std::unique_ptr<prometheus::Collectable> makeProcessCollector(std::string proc_dir = "/proc/self",
                                                              std::string proc_stat = "/proc/stat");

}  // namespace kitgate::admin
