// Reload on Kubernetes' atomic volume swap. A ConfigMap, Secret or projected
// volume is updated by the kubelet writing a new `..<timestamp>` directory and
// renaming a fresh `..data` symlink over the old one; every file in the volume
// is a symlink through `..data`. VolumeWatch watches directories (the config
// file's and the state directory) with inotify and calls `on_swap` when a
// `..data` entry is created or renamed into one of them — once per swap, with
// the new content complete. Elsewhere (a host state directory) nothing
// happens: the CLI reloads explicitly.
//
// Thread: created, called back and destroyed on the thread that runs `base`
// (the server's main loop). Destroy it before `base`.
#pragma once

#include <event2/event.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/common/unique_fd.h"

namespace kitgate::server {

class VolumeWatch {
 public:
  // Directories that do not exist are skipped; none left = a watch that never fires.
  static StatusOr<std::unique_ptr<VolumeWatch>> create(event_base* base,
                                                       const std::vector<std::string>& dirs,
                                                       std::function<void()> on_swap);
  ~VolumeWatch();
  VolumeWatch(const VolumeWatch&) = delete;
  VolumeWatch& operator=(const VolumeWatch&) = delete;

  size_t watched() const { return watched_; }

 private:
  VolumeWatch() = default;
  static void onReadable(evutil_socket_t fd, short, void* arg);

  UniqueFd fd_;
  event* ev_ = nullptr;
  size_t watched_ = 0;
  std::function<void()> on_swap_;
};

}  // namespace kitgate::server
