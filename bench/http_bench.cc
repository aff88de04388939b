// bench/http_bench.cc: micro-benchmarks of the HTTP engine's per-request CPU work: parsing a
// request head in place (iPXE's exact request, a curl request), and the pieces of a response head
// (IMF-fixdate formatting, Range interpretation). Ratios against the iPXE parse (the anchor,
// measured in the same run) are what to compare across machines.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "server/http_parser.h"
#include "server/http_server.h"
#include "server/http_types.h"

namespace {

// Captured from iPXE 1.0.0+git-20190125 (shared/reference/pxe-boot-facts.md, step 4).
constexpr std::string_view kIpxe =
    "GET /vmlinuz HTTP/1.1\r\n"
    "Connection: keep-alive\r\n"
    "User-Agent: iPXE/1.0.0+git-20190125.36a4c85-5.1\r\n"
    "Host: 10.0.2.100\r\n"
    "\r\n";

constexpr std::string_view kCurl =
    "GET /image/rocky-9/initramfs.img?assetkey=abc&uuid=1234 HTTP/1.1\r\n"
    "Host: 127.0.0.1:9873\r\n"
    "User-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\n"
    "Range: bytes=1048576-2097151\r\n"
    "If-None-Match: \"0123456789abcdef0123456789abcdef-zst\"\r\n"
    "\r\n";

void Parse(benchmark::State& state, std::string_view text) {
  // The parser collapses "//" in place, so it gets a writable copy, as the engine's buffer is.
  std::string buf(text);
  sw::HttpHeaderView headers[64];
  for (auto _ : state) {
    sw::HttpRequest req;
    long n = sw::ParseRequestHead(buf.data(), buf.size(), &req, headers, 64);
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(req.path.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void BM_ParseIpxeHead(benchmark::State& state) { Parse(state, kIpxe); }
BENCHMARK(BM_ParseIpxeHead);

void BM_ParseCurlHead(benchmark::State& state) { Parse(state, kCurl); }
BENCHMARK(BM_ParseCurlHead);

void BM_ParseIncompleteHead(benchmark::State& state) {
  // A head cut before its blank line: the cost of each recv CQE of a slow client.
  Parse(state, kCurl.substr(0, kCurl.size() - 2));
}
BENCHMARK(BM_ParseIncompleteHead);

void BM_HeaderLookup(benchmark::State& state) {
  std::string buf(kCurl);
  sw::HttpHeaderView headers[64];
  sw::HttpRequest req;
  sw::ParseRequestHead(buf.data(), buf.size(), &req, headers, 64);
  for (auto _ : state) {
    benchmark::DoNotOptimize(req.Header("if-none-match").size());
    benchmark::DoNotOptimize(req.Header("range").size());
  }
}
BENCHMARK(BM_HeaderLookup);

void BM_FormatHttpDate(benchmark::State& state) {
  int64_t t = 1790000000;
  for (auto _ : state) {
    std::string d = sw::HttpDate(t++);
    benchmark::DoNotOptimize(d.data());
  }
}
BENCHMARK(BM_FormatHttpDate);

void BM_ParseRange(benchmark::State& state) {
  sw::ByteRange r;
  for (auto _ : state) {
    benchmark::DoNotOptimize(sw::ParseRange("bytes=1048576-2097151", 8u << 20, &r));
  }
}
BENCHMARK(BM_ParseRange);

// The response head the engine writes for a 200 with validators (mirrors HttpServer's layout).
void BM_FormatResponseHead(benchmark::State& state) {
  std::string out;
  for (auto _ : state) {
    out.clear();
    out += "HTTP/1.1 200 OK\r\nServer: stormwulfd\r\nDate: ";
    out += sw::HttpDate(1790000000);
    out += "\r\nETag: \"0123456789abcdef0123456789abcdef-zst\"\r\nLast-Modified: ";
    out += sw::HttpDate(1780000000);
    out += "\r\nAccept-Ranges: bytes\r\nContent-Type: application/octet-stream\r\n";
    out += "Content-Length: ";
    out += std::to_string(8247232);
    out += "\r\n\r\n";
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_FormatResponseHead);

}  // namespace

BENCHMARK_MAIN();
