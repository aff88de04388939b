#include "agent/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "chunkstore/codec.h"

namespace sw {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool ParseU64(std::string_view s, int base, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    if (v > (UINT64_MAX - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) return false;
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

std::string TlsErrors() { return OpenSslErrors("connection closed"); }

}  // namespace

struct HttpClient::TlsState {
  ~TlsState() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;  // the current connection's; null between connections
};

HttpClient::HttpClient(HttpUrl url, HttpClientOptions opts)
    : url_(std::move(url)), opts_(std::move(opts)) {}

HttpClient::~HttpClient() = default;

void HttpClient::Close() {
  if (tls_ && tls_->ssl) {
    SSL_free(tls_->ssl);
    tls_->ssl = nullptr;
  }
  fd_.Reset();
}

Result<HttpUrl> HttpUrl::Parse(std::string_view url) {
  HttpUrl u;
  std::string_view rest;
  if (url.substr(0, 7) == "http://") {
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "https://") {
    rest = url.substr(8);
    u.tls = true;
    u.port = 443;
  } else {
    return Status::InvalidArgument("URL must start with http:// or https://: " + std::string(url));
  }
  size_t slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    u.base_path = std::string(path);
  }
  std::string_view host = hostport;
  std::string_view port;
  if (!hostport.empty() && hostport.front() == '[') {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) return Status::InvalidArgument("bad IPv6 URL");
    host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size()) {
      if (hostport[close + 1] != ':') return Status::InvalidArgument("bad URL port");
      port = hostport.substr(close + 2);
    }
  } else if (size_t colon = hostport.rfind(':'); colon != std::string_view::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  if (host.empty()) return Status::InvalidArgument("URL has no host: " + std::string(url));
  u.host = std::string(host);
  if (!port.empty()) {
    uint64_t p;
    if (!ParseU64(port, 10, &p) || p == 0 || p > 65535) {
      return Status::InvalidArgument("bad URL port: " + std::string(port));
    }
    u.port = static_cast<uint16_t>(p);
  }
  return u;
}

std::string HttpResult::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

Status HttpClient::Connect() {
  Close();
  buf_.clear();
  pos_ = 0;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(url_.port);
  int rc = getaddrinfo(url_.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    return Status::Unavailable("resolve " + url_.host + ": " + gai_strerror(rc));
  }
  Status last = Status::Unavailable("no address for " + url_.host);
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
      last = FromErrno("socket", errno);
      continue;
    }
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (opts_.local_port != 0) {
      sockaddr_storage local{};
      socklen_t len;
      if (ai->ai_family == AF_INET6) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&local);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(opts_.local_port);
        len = sizeof(*s6);
      } else {
        auto* s4 = reinterpret_cast<sockaddr_in*>(&local);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(opts_.local_port);
        len = sizeof(*s4);
      }
      if (bind(fd.get(), reinterpret_cast<sockaddr*>(&local), len) != 0) {
        last = FromErrno("bind local port " + std::to_string(opts_.local_port), errno);
        continue;
      }
    }
    if (connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last = Status::Unavailable("connect " + url_.host + ":" + port + ": " + strerror(errno));
      continue;
    }
    pollfd p{fd.get(), POLLOUT, 0};
    int n = poll(&p, 1, opts_.connect_timeout_ms);
    if (n <= 0) {
      last = Status::Unavailable("connect " + url_.host + ":" + port + ": timed out");
      continue;
    }
    int err = 0;
    socklen_t errlen = sizeof(err);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &errlen);
    if (err != 0) {
      last = Status::Unavailable("connect " + url_.host + ":" + port + ": " + strerror(err));
      continue;
    }
    fd_ = std::move(fd);
    freeaddrinfo(res);
    if (url_.tls) {
      Status hs = Handshake();
      if (!hs.ok()) Close();
      return hs;
    }
    return Status::OK();
  }
  freeaddrinfo(res);
  return last;
}

Status HttpClient::Wait(short events, const char* what) {
  pollfd p{fd_.get(), events, 0};
  for (;;) {
    int n = poll(&p, 1, opts_.io_timeout_ms);
    if (n > 0) return Status::OK();
    if (n < 0 && errno == EINTR) continue;
    return Status::Unavailable(std::string(what) + " timed out");
  }
}

Status HttpClient::Handshake() {
  ERR_clear_error();
  if (!tls_) {
    tls_ = std::make_unique<TlsState>();
    tls_->ctx = SSL_CTX_new(TLS_client_method());
    if (tls_->ctx == nullptr) return Status::IOError("SSL_CTX_new: " + TlsErrors());
    SSL_CTX_set_min_proto_version(tls_->ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(tls_->ctx, SSL_VERIFY_PEER, nullptr);
    int ok = opts_.ca_file.empty()
                 ? SSL_CTX_set_default_verify_paths(tls_->ctx)
                 : SSL_CTX_load_verify_locations(tls_->ctx, opts_.ca_file.c_str(), nullptr);
    if (ok != 1) {
      std::string err = TlsErrors();
      tls_.reset();
      // Not retryable: a missing or bad CA file does not fix itself.
      return Status::InvalidArgument("CA file " + opts_.ca_file + ": " + err);
    }
  }
  tls_->ssl = SSL_new(tls_->ctx);
  SSL* ssl = tls_->ssl;
  SSL_set_fd(ssl, fd_.get());
  // The certificate must name the host of the URL: an IP SAN for a numeric address (how nodes
  // usually reach the head node), else a DNS name (also sent as SNI).
  in6_addr a6;
  bool numeric = inet_pton(AF_INET, url_.host.c_str(), &a6) == 1 ||
                 inet_pton(AF_INET6, url_.host.c_str(), &a6) == 1;
  if (numeric) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url_.host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, url_.host.c_str());
    SSL_set1_host(ssl, url_.host.c_str());
  }
  for (;;) {
    int r = SSL_connect(ssl);
    if (r == 1) return Status::OK();
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
      SW_RETURN_IF_ERROR(Wait(POLLIN, "TLS handshake"));
    } else if (e == SSL_ERROR_WANT_WRITE) {
      SW_RETURN_IF_ERROR(Wait(POLLOUT, "TLS handshake"));
    } else {
      long v = SSL_get_verify_result(ssl);
      std::string why = v != X509_V_OK ? std::string("certificate verify failed: ") +
                                             X509_verify_cert_error_string(v)
                                       : TlsErrors();
      return Status::Unavailable("TLS handshake with " + url_.host + ":" +
                                 std::to_string(url_.port) + ": " + why);
    }
  }
}

Status HttpClient::SendAll(std::string_view data) {
  if (tls_ && tls_->ssl) {
    ERR_clear_error();
    while (!data.empty()) {
      int n = SSL_write(tls_->ssl, data.data(), static_cast<int>(data.size()));
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      int e = SSL_get_error(tls_->ssl, n);
      if (e == SSL_ERROR_WANT_WRITE) {
        SW_RETURN_IF_ERROR(Wait(POLLOUT, "send"));
      } else if (e == SSL_ERROR_WANT_READ) {
        SW_RETURN_IF_ERROR(Wait(POLLIN, "send"));
      } else {
        return Status::Unavailable("TLS send: " + TlsErrors());
      }
    }
    return Status::OK();
  }
  while (!data.empty()) {
    ssize_t n = send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      SW_RETURN_IF_ERROR(Wait(POLLOUT, "send"));
      continue;
    }
    return Status::Unavailable(std::string("send: ") + strerror(errno));
  }
  return Status::OK();
}

Status HttpClient::Fill() {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  char tmp[65536];
  if (tls_ && tls_->ssl) {
    ERR_clear_error();
    for (;;) {
      int n = SSL_read(tls_->ssl, tmp, sizeof(tmp));
      if (n > 0) {
        buf_.append(tmp, static_cast<size_t>(n));
        return Status::OK();
      }
      int e = SSL_get_error(tls_->ssl, n);
      if (e == SSL_ERROR_WANT_READ) {
        SW_RETURN_IF_ERROR(Wait(POLLIN, "receive"));
      } else if (e == SSL_ERROR_WANT_WRITE) {
        SW_RETURN_IF_ERROR(Wait(POLLOUT, "receive"));
      } else if (e == SSL_ERROR_ZERO_RETURN) {
        return Status::Unavailable("connection closed by server");
      } else {
        return Status::Unavailable("TLS receive: " + TlsErrors());
      }
    }
  }
  for (;;) {
    ssize_t n = recv(fd_.get(), tmp, sizeof(tmp), 0);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      return Status::OK();
    }
    if (n == 0) return Status::Unavailable("connection closed by server");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      SW_RETURN_IF_ERROR(Wait(POLLIN, "receive"));
      continue;
    }
    return Status::Unavailable(std::string("recv: ") + strerror(errno));
  }
}

Status HttpClient::ReadHead(HttpResult* result, bool* keep_alive, int64_t* content_length,
                            bool* chunked) {
  size_t end;
  for (;;) {
    end = buf_.find("\r\n\r\n", pos_);
    if (end != std::string::npos) break;
    if (buf_.size() - pos_ > 65536) return Status::Corruption("response head too large");
    SW_RETURN_IF_ERROR(Fill());
  }
  std::string_view head(buf_.data() + pos_, end - pos_);
  pos_ = end + 4;
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  // "HTTP/1.1 200 OK"
  if (status_line.substr(0, 7) != "HTTP/1." || status_line.size() < 12) {
    return Status::Corruption("bad status line: " + std::string(status_line));
  }
  bool http10 = status_line[7] == '0';
  uint64_t code;
  if (!ParseU64(status_line.substr(9, 3), 10, &code)) {
    return Status::Corruption("bad status code: " + std::string(status_line));
  }
  result->status = static_cast<int>(code);
  result->headers.clear();
  *keep_alive = !http10;
  *content_length = -1;
  *chunked = false;
  std::string_view rest = eol == std::string_view::npos ? "" : head.substr(eol + 2);
  while (!rest.empty()) {
    size_t e = rest.find("\r\n");
    std::string_view line = rest.substr(0, e);
    rest = e == std::string_view::npos ? "" : rest.substr(e + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Status::Corruption("bad header line");
    std::string name = Lower(Trim(line.substr(0, colon)));
    std::string value(Trim(line.substr(colon + 1)));
    if (name == "content-length") {
      uint64_t n;
      if (!ParseU64(value, 10, &n)) return Status::Corruption("bad Content-Length");
      *content_length = static_cast<int64_t>(n);
    } else if (name == "transfer-encoding" && Lower(value).find("chunked") != std::string::npos) {
      *chunked = true;
    } else if (name == "connection") {
      std::string v = Lower(value);
      if (v.find("close") != std::string::npos) *keep_alive = false;
      if (v.find("keep-alive") != std::string::npos) *keep_alive = true;
    }
    result->headers.emplace_back(std::move(name), std::move(value));
  }
  return Status::OK();
}

Status HttpClient::ReadBody(int64_t content_length, bool chunked,
                            const std::function<Status(ByteSpan)>& sink, uint64_t* total) {
  auto deliver = [&](size_t n) -> Status {
    ByteSpan span(reinterpret_cast<const uint8_t*>(buf_.data() + pos_), n);
    pos_ += n;
    *total += n;
    return sink(span);
  };
  if (!chunked && content_length >= 0) {
    uint64_t left = static_cast<uint64_t>(content_length);
    while (left > 0) {
      if (pos_ == buf_.size()) SW_RETURN_IF_ERROR(Fill());
      size_t n = std::min<uint64_t>(left, buf_.size() - pos_);
      SW_RETURN_IF_ERROR(deliver(n));
      left -= n;
    }
    return Status::OK();
  }
  if (chunked) {
    for (;;) {
      size_t eol;
      while ((eol = buf_.find("\r\n", pos_)) == std::string::npos) SW_RETURN_IF_ERROR(Fill());
      std::string_view line(buf_.data() + pos_, eol - pos_);
      line = line.substr(0, line.find(';'));
      uint64_t size;
      if (!ParseU64(Trim(line), 16, &size)) return Status::Corruption("bad chunk size");
      pos_ = eol + 2;
      if (size == 0) {
        // Skip trailers up to the empty line.
        for (;;) {
          while ((eol = buf_.find("\r\n", pos_)) == std::string::npos) SW_RETURN_IF_ERROR(Fill());
          bool empty = eol == pos_;
          pos_ = eol + 2;
          if (empty) return Status::OK();
        }
      }
      while (size > 0) {
        if (pos_ == buf_.size()) SW_RETURN_IF_ERROR(Fill());
        size_t n = std::min<uint64_t>(size, buf_.size() - pos_);
        SW_RETURN_IF_ERROR(deliver(n));
        size -= n;
      }
      while (buf_.size() - pos_ < 2) SW_RETURN_IF_ERROR(Fill());
      pos_ += 2;  // CRLF after the chunk data
    }
  }
  // No length: the body ends when the server closes.
  for (;;) {
    if (pos_ < buf_.size()) SW_RETURN_IF_ERROR(deliver(buf_.size() - pos_));
    Status s = Fill();
    if (!s.ok()) return Status::OK();
  }
}

Status HttpClient::Get(std::string_view path,
                       const std::vector<std::pair<std::string, std::string>>& headers,
                       const std::function<Status(ByteSpan)>& sink, HttpResult* result) {
  std::string req = "GET " + url_.base_path + std::string(path) + " HTTP/1.1\r\nHost: " +
                    url_.host + ":" + std::to_string(url_.port) +
                    "\r\nConnection: keep-alive\r\nUser-Agent: " + opts_.user_agent + "\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  req += "\r\n";
  // A kept-alive connection may have been closed by the server while idle: retry once on a fresh
  // connection if nothing of the response arrived.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = fd_.valid();
    if (!reused) SW_RETURN_IF_ERROR(Connect());
    Status s = SendAll(req);
    bool keep_alive = false;
    int64_t content_length = -1;
    bool chunked = false;
    if (s.ok()) s = ReadHead(result, &keep_alive, &content_length, &chunked);
    if (!s.ok()) {
      Close();
      if (reused && s.IsUnavailable()) continue;
      return s;
    }
    result->body_bytes = 0;
    bool no_body = result->status == 304 || result->status == 204 || result->status < 200;
    if (!no_body) {
      s = ReadBody(content_length, chunked, sink, &result->body_bytes);
      if (!s.ok()) {
        Close();
        return s;
      }
      if (!chunked && content_length < 0) keep_alive = false;
    }
    if (!keep_alive) Close();
    return Status::OK();
  }
  return Status::Unavailable("connection lost");
}

Status HttpClient::GetToString(std::string_view path,
                               const std::vector<std::pair<std::string, std::string>>& headers,
                               std::string* body, HttpResult* result, uint64_t max_bytes) {
  body->clear();
  return Get(
      path, headers,
      [&](ByteSpan data) -> Status {
        if (body->size() + data.size() > max_bytes) {
          return Status::Corruption("response body larger than " + std::to_string(max_bytes));
        }
        body->append(reinterpret_cast<const char*>(data.data()), data.size());
        return Status::OK();
      },
      result);
}

}  // namespace sw
