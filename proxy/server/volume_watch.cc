#include "proxy/server/volume_watch.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace kitgate::server {

namespace {
constexpr std::string_view kDataLink = "..data";
}

StatusOr<std::unique_ptr<VolumeWatch>> VolumeWatch::create(event_base* base,
                                                           const std::vector<std::string>& dirs,
                                                           std::function<void()> on_swap) {
  auto w = std::unique_ptr<VolumeWatch>(new VolumeWatch());
  w->on_swap_ = std::move(on_swap);
  w->fd_ = UniqueFd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!w->fd_.valid()) return Status::error(std::string("inotify_init1: ") + std::strerror(errno));
  for (const std::string& dir : dirs) {
    if (dir.empty()) continue;
    if (::inotify_add_watch(w->fd_.get(), dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) >= 0) {
      ++w->watched_;
    } else if (errno != ENOENT && errno != ENOTDIR) {
      return Status::error("inotify watch on " + dir + ": " + std::strerror(errno));
    }
  }
  w->ev_ = event_new(base, w->fd_.get(), EV_READ | EV_PERSIST, &VolumeWatch::onReadable, w.get());
  if (w->ev_ == nullptr || event_add(w->ev_, nullptr) != 0)
    return Status::error("cannot watch volumes");
  return w;
}

VolumeWatch::~VolumeWatch() {
  if (ev_ != nullptr) event_free(ev_);
}

void VolumeWatch::onReadable(evutil_socket_t fd, short, void* arg) {
  auto* self = static_cast<VolumeWatch*>(arg);
  alignas(inotify_event) char buf[4096];
  bool swapped = false;
  // Drain everything queued; one callback however many events arrived.
  for (int rounds = 0; rounds < 64; ++rounds) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    for (ssize_t off = 0; off + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
      const auto* e = reinterpret_cast<const inotify_event*>(buf + off);
      if (e->len > 0 && std::string_view(e->name) == kDataLink) swapped = true;
      off += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    }
  }
  if (swapped) self->on_swap_();
}

}  // namespace kitgate::server
