// agent/http_client.h: a small blocking HTTP/1.1 client for wwclient and `wwclient provision`.
//
// Node kernels vary and io_uring may be missing or disabled there, so the agent uses ordinary
// blocking sockets with poll(2) timeouts: one connection per HttpClient, kept alive across
// requests, reconnected transparently when the server closed it. Bodies are streamed to a sink,
// never held whole unless the caller does so. "https://" URLs speak TLS (OpenSSL, TLS 1.3
// minimum), verifying the server's certificate against a CA file and the URL's host or IP.
// Thread-safety: one HttpClient per thread; distinct clients are independent.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "common/status.h"

namespace sw {

struct HttpUrl {
  std::string host;  // literal IPv4/IPv6 address or a name resolved with getaddrinfo
  uint16_t port = 80;
  std::string base_path;  // path prefix without trailing '/', may be empty
  bool tls = false;       // https
  // Parses "http://host[:port][/prefix]" or "https://..." (default ports 80 and 443).
  // InvalidArgument otherwise.
  static Result<HttpUrl> Parse(std::string_view url);
};

struct HttpClientOptions {
  int connect_timeout_ms = 30000;
  int io_timeout_ms = 60000;  // no byte received or sent for this long -> Unavailable
  // Bind the local end to this port before connecting (e.g. 987 for Warewulf's secure mode, which
  // only root can do); 0 = any. SO_REUSEADDR is set so quick reconnects work.
  uint16_t local_port = 0;
  std::string user_agent = "wwclient/stormwulf";
  // https: PEM file of the CA(s) that signed the server's certificate; empty = the system's store.
  std::string ca_file;
};

struct HttpResult {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  uint64_t body_bytes = 0;
  // First value of a header (name lower-case), or empty.
  std::string Header(std::string_view name) const;
};

class HttpClient {
 public:
  HttpClient(HttpUrl url, HttpClientOptions opts);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `GET <base_path><path>` with the extra headers and streams the body to sink (which may
  // return a non-OK Status to abort: the connection is then closed). Unavailable for connection
  // failures and timeouts (retryable), Corruption for malformed responses.
  Status Get(std::string_view path, const std::vector<std::pair<std::string, std::string>>& headers,
             const std::function<Status(ByteSpan)>& sink, HttpResult* result);

  // Convenience: the whole body into *body (bounded by max_bytes, else Corruption).
  Status GetToString(std::string_view path,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     std::string* body, HttpResult* result, uint64_t max_bytes = 1ull << 30);

  void Close();
  const HttpUrl& url() const { return url_; }

 private:
  Status Connect();
  Status Handshake();  // TLS client handshake on the connected fd_
  // Waits until fd_ is ready for `events` (POLLIN/POLLOUT); Unavailable on timeout.
  Status Wait(short events, const char* what);
  Status SendAll(std::string_view data);
  // Reads at least one byte into buf_ (appending). Unavailable on timeout/EOF.
  Status Fill();
  Status ReadHead(HttpResult* result, bool* keep_alive, int64_t* content_length, bool* chunked);
  Status ReadBody(int64_t content_length, bool chunked, const std::function<Status(ByteSpan)>& sink,
                  uint64_t* total);

  HttpUrl url_;
  HttpClientOptions opts_;
  UniqueFd fd_;
  struct TlsState;  // OpenSSL context and connection (http_client.cc)
  std::unique_ptr<TlsState> tls_;
  std::string buf_;  // bytes received but not consumed
  size_t pos_ = 0;   // consumed prefix of buf_
};

}  // namespace sw
