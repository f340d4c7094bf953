// FakeEngineServer: a scripted HTTP/1.1 server on a unix socket in a fresh
// temporary directory, standing in for dockerd in hermetic tests of
// EngineClient. One connection at a time, "Connection: close" after each
// answer. The handler sees each request and returns the raw answer bytes;
// an answer may keep the socket (hijack) through `then`.
//
// Threads: serves on its own thread; requests() may be read from the test
// thread once the client call returned.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kitgate::docker::testing {

struct FakeRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct FakeAnswer {
  std::string bytes;                 // written as is
  std::function<void(int fd)> then;  // runs on the raw socket afterwards
};

// Answer builders.
FakeAnswer jsonAnswer(int status, std::string body);
// A body without Content-Length, ended by closing the connection (the way
// dockerd sends exec and attach streams).
FakeAnswer streamAnswer(std::string content_type, std::string body);
// One 8-byte-header frame of Docker's multiplexed stream.
std::string muxFrame(int stream, std::string_view payload);

class FakeEngineServer {
 public:
  using Handler = std::function<FakeAnswer(const FakeRequest&)>;
  explicit FakeEngineServer(Handler handler);
  ~FakeEngineServer();

  const std::string& socketPath() const { return socket_path_; }
  std::vector<FakeRequest> requests();

 private:
  void serve();

  Handler handler_;
  std::string dir_;
  std::string socket_path_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::mutex mu_;
  std::vector<FakeRequest> requests_;
  std::thread thread_;
};

}  // namespace kitgate::docker::testing
