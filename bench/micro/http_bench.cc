// Micro-benchmarks for kitgate_http: parsing a typical ~500-byte absolute-form
// request head, a CONNECT head, a response head, re-serialization, and
// chunked decoding. Storage is reused across iterations, as a connection
// reuses its RequestHead and scratch string.
#include <benchmark/benchmark.h>

#include <string>

#include "proxy/http/chunked.h"
#include "proxy/http/request.h"
#include "proxy/http/response.h"
#include "proxy/http/serialize.h"

namespace {

using namespace kitgate::http;

const std::string kTypicalRequest =
    "GET http://api.example.com/v1/projects/1234/items?limit=50&cursor=abcdef HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Authorization: Bearer sbx-placeholder-0123456789abcdef0123456789abcdef\r\n"
    "Cookie: session=0123456789abcdef; theme=dark\r\n"
    "Referer: http://api.example.com/v1/projects/1234\r\n"
    "X-Request-Id: 6f1c2a3b-9d8e-4f7a-b6c5-d4e3f2a1b0c9\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

const std::string kConnect =
    "CONNECT api.example.com:443 HTTP/1.1\r\n"
    "Host: api.example.com:443\r\n"
    "User-Agent: curl/8.5.0\r\n"
    "Proxy-Connection: Keep-Alive\r\n"
    "\r\n";

const std::string kResponse =
    "HTTP/1.1 200 OK\r\n"
    "Date: Fri, 27 Nov 2026 07:00:00 GMT\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Content-Length: 1234\r\n"
    "Cache-Control: no-store\r\n"
    "Connection: keep-alive\r\n"
    "X-Request-Id: 6f1c2a3b-9d8e-4f7a-b6c5-d4e3f2a1b0c9\r\n"
    "\r\n";

void parseRequestBench(benchmark::State& state, const std::string& buf) {
  RequestHead head;
  size_t consumed = 0;
  for (auto _ : state) {
    ParseStatus s = parseRequestHead(buf, {}, &head, &consumed);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(head);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buf.size()));
}

void BM_ParseTypicalRequest(benchmark::State& state) { parseRequestBench(state, kTypicalRequest); }
BENCHMARK(BM_ParseTypicalRequest);

void BM_ParseConnect(benchmark::State& state) { parseRequestBench(state, kConnect); }
BENCHMARK(BM_ParseConnect);

void BM_ParseResponse(benchmark::State& state) {
  ResponseHead head;
  size_t consumed = 0;
  for (auto _ : state) {
    ParseStatus s = parseResponseHead(kResponse, {}, "GET", &head, &consumed);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(head);
  }
}
BENCHMARK(BM_ParseResponse);

void BM_SerializeTypicalRequest(benchmark::State& state) {
  RequestHead head;
  size_t consumed = 0;
  parseRequestHead(kTypicalRequest, {}, &head, &consumed);
  std::string out;
  for (auto _ : state) {
    out.clear();
    serializeRequestForOrigin(head, &out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_SerializeTypicalRequest);

void BM_ParseAndSerializeTypicalRequest(benchmark::State& state) {
  RequestHead head;
  size_t consumed = 0;
  std::string out;
  for (auto _ : state) {
    parseRequestHead(kTypicalRequest, {}, &head, &consumed);
    out.clear();
    serializeRequestForOrigin(head, &out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_ParseAndSerializeTypicalRequest);

void BM_SerializeResponse(benchmark::State& state) {
  ResponseHead head;
  size_t consumed = 0;
  parseResponseHead(kResponse, {}, "GET", &head, &consumed);
  std::string out;
  for (auto _ : state) {
    out.clear();
    serializeResponseForClient(head, &out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_SerializeResponse);

void BM_ChunkedDecode64KiB(benchmark::State& state) {
  std::string wire;
  const std::string chunk(4096, 'x');
  for (int i = 0; i < 16; ++i) {
    ChunkedEncoder::appendChunkHeader(chunk.size(), &wire);
    wire.append(chunk).append(ChunkedEncoder::kChunkEnd);
  }
  wire.append(ChunkedEncoder::kLastChunk);
  for (auto _ : state) {
    ChunkedDecoder decoder;
    std::string_view in = wire;
    size_t total = 0;
    while (!in.empty()) {
      size_t consumed = 0;
      std::string_view data;
      const DecodeResult r = decoder.decode(in, &consumed, &data);
      in.remove_prefix(consumed);
      if (r == DecodeResult::kData) total += data.size();
      if (r != DecodeResult::kData && r != DecodeResult::kNeedMore) break;
    }
    benchmark::DoNotOptimize(total);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_ChunkedDecode64KiB);

}  // namespace
