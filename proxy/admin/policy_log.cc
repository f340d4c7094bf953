#include "proxy/admin/policy_log.h"

#include <spdlog/async.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include "proxy/common/json_text.h"

namespace kitgate::admin {
namespace {

// "2026-11-27T08:01:02.123Z", quoted. The date-time part is formatted once
// per second per thread.
void appendTime(std::string& out) {
  thread_local time_t cached_second = -1;
  thread_local char cached[80];
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  if (secs != cached_second) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_second = secs;
  }
  const char millis[] = {'.', static_cast<char>('0' + ms / 100),
                         static_cast<char>('0' + ms / 10 % 10), static_cast<char>('0' + ms % 10)};
  out += '"';
  out += cached;
  out.append(millis, sizeof millis);
  out += "Z\"";
}

std::atomic<int> g_instance{0};

// Negative timings all print as -1 (not measured); others as they are.
double timing(double ms) { return ms < 0 ? -1 : ms; }

// Numbers without printf (which showed in the per-request profile): an
// integer, and milliseconds as "%.3f" would print them.
void appendNumber(std::string& out, uint64_t v) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

void appendMs(std::string& out, double ms) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, ms, std::chars_format::fixed, 3);
  if (r.ec != std::errc()) {  // beyond 10^60 ms: not a duration
    out += "-1.000";
    return;
  }
  out.append(buf, r.ptr);
}

}  // namespace

void PolicyLog::appendJsonString(std::string& out, std::string_view s) {
  out += '"';
  appendJsonEscaped(out, s);
  out += '"';
}

StatusOr<std::unique_ptr<PolicyLog>> PolicyLog::open(const std::string& path, size_t max_bytes,
                                                     size_t max_files) {
  if (path.empty()) return std::unique_ptr<PolicyLog>(new PolicyLog(nullptr));
  try {
    if (!spdlog::thread_pool()) spdlog::init_thread_pool(16384, 1);
    std::shared_ptr<spdlog::sinks::sink> sink;
    if (path == "-") {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(path, max_bytes, max_files);
    }
    auto logger = std::make_shared<spdlog::async_logger>(
        "policy-" + std::to_string(g_instance.fetch_add(1)), sink, spdlog::thread_pool(),
        spdlog::async_overflow_policy::block);
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::info);
    return std::unique_ptr<PolicyLog>(new PolicyLog(std::move(logger)));
  } catch (const spdlog::spdlog_ex& ex) {
    return Status::error("policy log " + path + ": " + ex.what());
  }
}

PolicyLog::PolicyLog(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}

PolicyLog::~PolicyLog() { flush(); }

void PolicyLog::flush() {
  if (logger_) logger_->flush();
}

void PolicyLog::format(const PolicyRecord& r, std::string* out) {
  std::string& line = *out;
  line += "{\"time\":";
  appendTime(line);
  if (r.event != PolicyEvent::kDecision) {
    line += r.event == PolicyEvent::kOpen ? ",\"event\":\"open\",\"id\":"
                                          : ",\"event\":\"close\",\"id\":";
    appendJsonString(line, r.id);
    line += ",\"client\":";
    appendJsonString(line, r.client);
  }
  line += ",\"sandbox\":";
  appendJsonString(line, r.sandbox);
  line += ",\"type\":";
  appendJsonString(line, r.type);
  line += ",\"method\":";
  appendJsonString(line, r.method);
  line += ",\"host\":";
  appendJsonString(line, r.host);
  line += ",\"port\":";
  appendNumber(line, r.port);
  line += ",\"address\":";
  appendJsonString(line, r.address);
  line += r.allowed ? ",\"decision\":\"allowed\"" : ",\"decision\":\"blocked\"";
  line += ",\"rule\":";
  appendJsonString(line, r.rule);
  line += ",\"reason\":";
  appendJsonString(line, r.reason);
  line += ",\"proxy\":";
  appendJsonString(line, r.proxy);
  line += ",\"status\":";
  if (r.status < 0) line += '-';
  appendNumber(line,
               static_cast<uint64_t>(r.status < 0 ? -static_cast<int64_t>(r.status) : r.status));
  if (r.event != PolicyEvent::kDecision) {
    line += ",\"dns_ms\":";
    appendMs(line, timing(r.dns_ms));
    line += ",\"connect_ms\":";
    appendMs(line, timing(r.connect_ms));
    line += ",\"tls_ms\":";
    appendMs(line, timing(r.tls_ms));
    line += ",\"error\":";
    appendJsonString(line, r.error);
    if (!r.sni_check.empty()) {
      line += ",\"sni\":";
      appendJsonString(line, r.sni);
      line += ",\"sni_check\":";
      appendJsonString(line, r.sni_check);
    }
  }
  line += ",\"bytes_up\":";
  appendNumber(line, r.bytes_up);
  line += ",\"bytes_down\":";
  appendNumber(line, r.bytes_down);
  line += ",\"duration_ms\":";
  appendMs(line, r.duration_ms);
  line += "}\n";
}

void PolicyLog::opened(const PolicyRecord& r) {
  PolicyRecord open = r;
  open.event = PolicyEvent::kOpen;
  write(open);
}

void PolicyLog::closed(const PolicyRecord& r) {
  PolicyRecord close = r;
  close.event = PolicyEvent::kClose;
  write(close);
}

std::string PolicyLog::connectionId(int worker, uint64_t seq) {
  static const uint32_t tag = [] {
    std::random_device rd;
    return static_cast<uint32_t>(rd());
  }();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%08x-%d-%llu", tag, worker, static_cast<unsigned long long>(seq));
  return buf;
}

void PolicyLog::writeBatch(std::string_view lines) {
  if (!logger_ || lines.empty()) return;
  if (lines.back() == '\n') lines.remove_suffix(1);  // the sink adds the last newline
  logger_->info(lines);
}

void PolicyLog::write(const PolicyRecord& r) {
  std::string line;
  format(r, &line);
  writeBatch(line);
}

}  // namespace kitgate::admin
