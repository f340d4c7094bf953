// Building prometheus-cpp MetricFamily lists by hand, for the collectors in
// this folder (metrics.cc, process_metrics.cc). Internal to kitgate_admin.
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <utility>
#include <vector>

namespace kitgate::admin {

// Appends an empty family to `out` and returns it.
inline prometheus::MetricFamily& family(std::vector<prometheus::MetricFamily>& out,
                                        std::string name, std::string help,
                                        prometheus::MetricType type) {
  out.push_back(prometheus::MetricFamily{std::move(name), std::move(help), type, {}});
  return out.back();
}

// Appends one counter or gauge sample (by the family's type) to `f`.
inline void sample(prometheus::MetricFamily& f, double v,
                   std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (f.type == prometheus::MetricType::Counter) {
    m.counter.value = v;
  } else {
    m.gauge.value = v;
  }
  f.metric.push_back(std::move(m));
}

}  // namespace kitgate::admin
