// Recorder: http2::Callbacks that keep what a session reported, and Buffer,
// an evbuffer for a test's lifetime — for tests that drive HTTP/2 sessions in
// memory (tests/proxy/codec/http2, tests/proxy/server).
#pragma once

#include <event2/buffer.h>

#include <map>
#include <string>
#include <vector>

#include "proxy/codec/http2/session.h"

namespace kitgate::testing {

struct Recorder : http2::Callbacks {
  struct Got {
    http2::Head head;
    bool end_stream;
  };
  std::map<int32_t, std::vector<Got>> heads;
  std::map<int32_t, std::string> bodies;
  std::map<int32_t, bool> ended;
  std::map<int32_t, http2::ErrorCode> closed;
  std::map<int32_t, size_t> sent;
  http2::Session* session = nullptr;
  // Bytes are consumed (the window reopened) as they arrive, except on
  // these streams (a slow reader).
  std::map<int32_t, bool> hold;

  void onHeaders(int32_t id, http2::Head& head, bool end_stream) override {
    heads[id].push_back({head, end_stream});
  }
  void onData(int32_t id, std::string_view data) override {
    bodies[id].append(data);
    if (!hold[id]) session->consume(id, data.size());
  }
  void onEnd(int32_t id) override { ended[id] = true; }
  void onClose(int32_t id, http2::ErrorCode code) override { closed[id] = code; }
  void onDataSent(int32_t id, size_t bytes) override { sent[id] += bytes; }
  size_t requestCount() const {
    size_t n = 0;
    for (const auto& [id, got] : heads) n += got.empty() ? 0 : 1;
    return n;
  }
};

struct Buffer {
  evbuffer* b = evbuffer_new();
  ~Buffer() { evbuffer_free(b); }
};

}  // namespace kitgate::testing
