// server/http_server.h: stormwulfd's HTTP/1.1 engine on io_uring.
//
// One event loop and one ring per thread; every thread has its own SO_REUSEPORT listener per
// address, so the kernel spreads connections. Heads are received with multishot recv into a
// shared provided-buffer ring and copied into the connection only while a head is incomplete, so
// an idle keep-alive connection holds no buffer. Bodies of file pieces go file -> pipe -> socket
// with IORING_OP_SPLICE (no user-space copy; docs/http-engine.md has the measurements), memory
// pieces with IORING_OP_SEND. The engine applies HEAD, If-None-Match / If-Modified-Since (304) and
// single Range requests (206/416) to every handler response, sends Content-Length always (never
// chunked), keeps connections alive and answers pipelined requests in order.
// Thread-safety: Start/Stop from one thread; Metrics() from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "server/http_types.h"

namespace sw {

struct HttpServerOptions {
  std::vector<std::string> listen = {"127.0.0.1:9873"};  // "ADDR:PORT", "[v6]:PORT"; port 0 ok
  int threads = 0;                        // 0 = one per core
  size_t max_head_bytes = 8192;           // larger heads get 431
  size_t max_uri_bytes = 4096;            // longer targets get 414
  int header_timeout_ms = 10000;          // a head must arrive within this (slowloris)
  int idle_timeout_ms = 60000;            // keep-alive idle
  int send_timeout_ms = 60000;            // no byte of progress for this long while sending
  size_t max_connections = 50000;         // over this, new connections are closed at once
  // Plain connections send file pieces with sendfile(2) from the loop thread on their
  // non-blocking socket (zero-copy, no worker thread; a full socket waits for POLLOUT). false:
  // two io_uring splices through a pipe, which io_uring runs in its worker threads.
  bool inline_sendfile = true;
  // TCP_NOTSENT_LOWAT on every connection (0: the system's default, unlimited): a socket takes
  // more bytes only while less than this is queued and not yet sent. The loop refills it when
  // it drains, so its own transmit work stays on its thread: unsent bytes queued deep would be
  // pushed out by incoming ACKs, in whichever context receives them (on loopback, the client's
  // recv), and kernel memory per connection stays small.
  int notsent_lowat = 128 * 1024;
  // Bodies up to this many bytes go out with the head in one send: gathered from memory when the
  // file cache holds every piece (SharedFile::Contents), else read into the response buffer.
  // For a small body that costs less than the per-response work of sendfile or splice. 0 =
  // always the zero-copy path (sendfile or splice).
  size_t copy_body_max = 256 * 1024;
  // Bytes all connections of one loop may hold in bodies read into their buffers; beyond it they
  // take the zero-copy path, so memory stays bounded however many nodes fetch at once.
  size_t copy_budget_per_loop = 32u << 20;
  // TLS listeners (requests on them have HttpRequest::tls set); need tls_cert and tls_key (PEM).
  std::vector<std::string> tls_listen;
  std::string tls_cert, tls_key;
};

struct HttpMetrics {
  uint64_t requests = 0;
  uint64_t by_status[6] = {};  // index = status / 100
  uint64_t status_304 = 0;
  uint64_t bytes_sent = 0;
  uint64_t active_connections = 0;
  uint64_t accepted = 0;
  uint64_t errors = 0;  // connections closed by an I/O error or timeout
  static constexpr int kBuckets = 12;  // latency upper bounds: 0.1ms * 4^i
  uint64_t latency_buckets[kBuckets] = {};
  double latency_sum_seconds = 0;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions opts, HttpHandler* handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds every listener and starts the loop threads. Unavailable when io_uring is unusable,
  // IOError when an address cannot be bound, InvalidArgument for an unusable TLS certificate/key.
  Status Start();
  // Stops accepting, closes every connection, joins the threads.
  void Stop();
  // The port actually bound for listen[i] / tls_listen[i] (useful with port 0).
  uint16_t port(size_t i) const { return ports_.at(i); }
  uint16_t tls_port(size_t i) const { return ports_.at(opts_.listen.size() + i); }
  HttpMetrics Metrics() const;
  const std::string& ring_mode() const { return ring_mode_; }

  struct Shared;  // state shared by the loops (metrics, options)
  class Loop;     // one thread's ring and connections (http_server.cc)

 private:
  HttpServerOptions opts_;
  HttpHandler* handler_;
  std::vector<uint16_t> ports_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  std::shared_ptr<Shared> shared_;
  std::string ring_mode_;
};

// If-None-Match: true when inm ("*" or a list of entity tags) matches etag, by RFC 9110's weak
// comparison (a W/ prefix is ignored on both sides).
bool EtagMatches(std::string_view inm, std::string_view etag);

// Formats a Unix time as an RFC 7231 IMF-fixdate; parses one back (-1 on failure).
std::string HttpDate(int64_t unix_seconds);
int64_t ParseHttpDate(std::string_view s);

struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
};
enum class RangeResult { kNone, kSatisfiable, kUnsatisfiable };
// Interprets a Range header for a representation of `length` bytes. Multi-range and malformed
// headers are kNone (the full body is sent, as RFC 9110 allows).
RangeResult ParseRange(std::string_view header, uint64_t length, ByteRange* out);

}  // namespace sw
