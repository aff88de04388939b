// server/http_types.h: the contract between the HTTP/1.1 engine (server/http_server.h, which owns
// sockets, parsing, keep-alive, limits, Range, conditional requests and zero-copy sending) and the
// routes (server/routes.h, which know Warewulf's URLs, nodes, images and overlays).
//
// A handler gets a parsed request and a ResponseWriter. It answers with the *full* representation
// (status, validators, body pieces); the engine then applies HEAD, If-None-Match /
// If-Modified-Since (304), and Range (206/416) by itself, so every route gets them right.
// Thread-safety: HttpHandler::Handle runs on a loop thread and must not block for long (no disk
// reads of whole artifacts, no compression); ResponseWriter::Respond may be called from any thread,
// exactly once, during or after Handle.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/fd.h"

namespace sw {

// An open file shared by every response that sends from it; closed when the last reference goes,
// so a chunk replaced or deleted on disk keeps being served consistently to requests in flight.
struct SharedFile {
  SharedFile() = default;
  SharedFile(const SharedFile&) = delete;
  SharedFile& operator=(const SharedFile&) = delete;
  ~SharedFile();
  // The whole file in memory, read on the second call (a file used once, like a node's own
  // overlay at boot, is not worth the memory), if the cache that opened it allows it (a budget
  // is set) and the budget has room; else nullptr (send from the file). Chunk files are
  // immutable, so the copy never goes stale. Thread-safe.
  const std::string* Contents() const;
  UniqueFd fd;
  uint64_t size = 0;
  std::string path;  // for logs
  // Set by the cache before the file is shared: the bytes all its files hold in memory, and
  // the most they may.
  std::shared_ptr<std::atomic<size_t>> budget;
  size_t budget_limit = 0;

 private:
  mutable std::atomic<bool> used_{false};
  mutable std::once_flag once_;
  mutable std::string contents_;
  mutable bool loaded_ = false;  // written once under once_
};

// Bytes [offset, offset+length) of either a file or a memory buffer.
struct BodyPiece {
  std::shared_ptr<const SharedFile> file;
  std::shared_ptr<const std::string> mem;
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type;  // no Content-Type header when empty
  std::string etag;          // complete header value with quotes, e.g. "\"ab12-zst\""; may be empty
  int64_t last_modified = -1;  // unix seconds; -1 = no Last-Modified
  std::vector<std::pair<std::string, std::string>> extra_headers;  // e.g. Cache-Control
  std::vector<BodyPiece> body;  // the full representation (empty for error statuses)
  bool allow_ranges = true;     // only meaningful for 200 responses
  bool close = false;           // close the connection after this response
  // Called once on the server's thread when the response has been sent completely, with the bytes
  // written for it (head and body: 0 body bytes for a 304); not called if the connection fails.
  std::function<void(uint64_t bytes)> on_sent;

  uint64_t BodyLength() const {
    uint64_t n = 0;
    for (const auto& p : body) n += p.length;
    return n;
  }
  static HttpResponse Status(int code) {
    HttpResponse r;
    r.status = code;
    return r;
  }
};

struct HttpHeaderView {
  std::string_view name;
  std::string_view value;
};

// A parsed request head. Every view points into the connection's head buffer and is valid only
// during HttpHandler::Handle; copy what a deferred response needs.
struct HttpRequest {
  std::string_view method;
  std::string_view target;  // as received, e.g. "/ipxe/aa-bb?x=1"
  std::string_view path;    // target before '?', with every "//" collapsed to "/"
  std::string_view query;   // after '?', without it; empty if none
  int minor_version = 1;    // HTTP/1.<minor>
  const HttpHeaderView* headers = nullptr;
  size_t num_headers = 0;
  sockaddr_storage peer{};  // client address (for ARP lookup)
  uint16_t peer_port = 0;   // client TCP source port (secure mode)
  bool tls = false;         // arrived over the TLS listener

  // Case-insensitive header lookup; empty view if absent.
  std::string_view Header(std::string_view name) const;
  // Value of a query parameter (percent-decoded into *out). False if absent.
  bool QueryParam(std::string_view key, std::string* out) const;
  // The peer address as text ("127.0.0.1", "::1").
  std::string PeerAddress() const;
};

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // Thread-safe; call exactly once. If the connection is gone by then, the response is dropped.
  virtual void Respond(HttpResponse resp) = 0;
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual void Handle(const HttpRequest& req, std::shared_ptr<ResponseWriter> writer) = 0;
};

// Percent-decoding of a query component ('+' is a space). False on a bad escape.
bool PercentDecode(std::string_view in, std::string* out);

}  // namespace sw
