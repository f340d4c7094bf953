// OAuthWaits: requests parked until an OAuth refresh ends, per worker.
//
// A request whose stored access token has already expired should not go out
// with it while a refresh is running or can start (proxy/secrets/
// oauth_refresher.h). The stream asks for a refresh and parks here, without
// blocking the loop: the worker keeps serving its other connections. The
// refresher posts wake(slot) to every worker when a refresh of that slot
// ends (new tokens published, or a failure); each parked request then goes
// on with what is stored. A wait is bounded (its own timer): at the limit it
// goes on too — the origin decides.
//
// Thread: the owning worker's loop only (no lock). A Ticket belongs to the
// stream that parked; destroying it cancels the wait (its callback never
// runs after).
#pragma once

#include <event2/event.h>

#include <chrono>
#include <functional>
#include <memory>
#include <unordered_map>

namespace kitgate::secrets {
class OAuthSlot;
}

namespace kitgate::stream {

inline constexpr std::chrono::milliseconds kOAuthWaitLimit{10'000};

class OAuthWaits {
 public:
  enum class Outcome : uint8_t { kRefreshEnded, kTimedOut };
  class Ticket {
   public:
    ~Ticket();
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

   private:
    friend class OAuthWaits;
    Ticket() = default;
    static void onTimer(evutil_socket_t, short, void* arg);
    void fire(Outcome outcome);
    OAuthWaits* owner_ = nullptr;
    const secrets::OAuthSlot* slot_ = nullptr;
    event* timer_ = nullptr;
    bool registered_ = false;
    std::function<void(Outcome)> done_;
  };

  explicit OAuthWaits(event_base* base) : base_(base) {}
  ~OAuthWaits();
  OAuthWaits(const OAuthWaits&) = delete;
  OAuthWaits& operator=(const OAuthWaits&) = delete;

  // Parks until wake(slot) or `limit`; `done` runs once, on the loop, never
  // inside wait().
  std::unique_ptr<Ticket> wait(const secrets::OAuthSlot* slot, std::chrono::milliseconds limit,
                               std::function<void(Outcome)> done);
  // A refresh of `slot` ended: every request parked for it goes on.
  void wake(const secrets::OAuthSlot* slot);
  size_t parked() const { return parked_.size(); }

 private:
  void unregister(Ticket* t);
  event_base* base_;
  std::unordered_multimap<const secrets::OAuthSlot*, Ticket*> parked_;
};

}  // namespace kitgate::stream
