#include "proxy/secrets/credential_source.h"

#include <algorithm>
#include <utility>

#include "proxy/common/base64.h"

namespace kitgate::secrets {

std::string CredentialFormat::formatted(std::string_view secret) const {
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '%' && i + 1 < format.size()) {
      if (format[i + 1] == 's') out.append(secret);
      if (format[i + 1] == '%') out.push_back('%');
      ++i;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string CredentialFormat::render(std::string_view secret) const {
  if (!username.empty()) return "Basic " + base64Encode(username + ":" + formatted(secret));
  return formatted(secret);
}

StaticCredential::StaticCredential(std::string description, std::string value)
    : description_(std::move(description)),
      value_(std::make_shared<const std::string>(std::move(value))) {}

RefreshableCredential::RefreshableCredential(std::string description, Fetch fetch,
                                             const Clock& clock, Clock::duration refresh_before)
    : description_(std::move(description)),
      fetch_(std::move(fetch)),
      clock_(clock),
      refresh_before_(refresh_before) {}

std::shared_ptr<const std::string> RefreshableCredential::current() const {
  std::shared_ptr<const Published> p = published_.load(std::memory_order_acquire);
  if (!p || clock_.now() >= p->expires) return nullptr;
  return p->value;
}

Clock::time_point RefreshableCredential::nextRefresh() const {
  std::shared_ptr<const Published> p = published_.load(std::memory_order_acquire);
  if (!p) return clock_.now();
  return p->expires - refresh_before_;
}

Status RefreshableCredential::refreshIfDue() {
  if (clock_.now() < nextRefresh()) return Status::ok();
  const Clock::time_point fetched_at = clock_.now();
  StatusOr<Token> token = fetch_();
  if (!token) return Status::error(description_ + ": refresh failed: " + token.status().message());
  auto next = std::make_shared<const Published>(Published{
      std::make_shared<const std::string>(std::move(token->value)), fetched_at + token->lifetime});
  published_.store(std::move(next), std::memory_order_release);
  return Status::ok();
}

CredentialRefresher::CredentialRefresher(
    std::vector<std::shared_ptr<RefreshableCredential>> sources, const Clock& clock,
    std::function<void(const Status&)> on_error)
    : sources_(std::move(sources)), clock_(clock), on_error_(std::move(on_error)) {}

CredentialRefresher::~CredentialRefresher() { stop(); }

int CredentialRefresher::runOnce() {
  int failed = 0;
  for (const auto& s : sources_) {
    Status st = s->refreshIfDue();
    if (!st) {
      ++failed;
      if (on_error_) on_error_(st);
    }
  }
  return failed;
}

void CredentialRefresher::start() {
  thread_ = std::thread([this] {
    constexpr auto kMaxWait = std::chrono::minutes(1);
    constexpr auto kRetryAfterFailure = std::chrono::seconds(5);
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      const int failed = runOnce();
      Clock::time_point wake = clock_.now() + kMaxWait;
      for (const auto& s : sources_) wake = std::min(wake, s->nextRefresh());
      if (failed > 0) wake = std::max(wake, clock_.now() + kRetryAfterFailure);
      const auto wait = std::max<Clock::duration>(wake - clock_.now(), Clock::duration::zero());
      lock.lock();
      cv_.wait_for(lock, wait, [this] { return stopping_; });
    }
  });
}

void CredentialRefresher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace kitgate::secrets
