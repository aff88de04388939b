// Connection state machine and buffer ownership: docs/http-engine.md.
#include "server/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>
#include <future>
#include <mutex>
#include <unordered_map>

#include "common/fs_util.h"
#include "common/log.h"
#include "server/http_parser.h"
#include "server/tls.h"
#include "uring/ring.h"
#include "uring/timer_wheel.h"

namespace sw {

struct HttpServer::Shared {
  HttpServerOptions opts;
  HttpHandler* handler = nullptr;
  std::shared_ptr<TlsContext> tls;  // set when there are TLS listeners
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> requests{0}, by_status[6] = {}, s304{0}, bytes_sent{0}, active{0},
      accepted{0}, errors{0}, lat[HttpMetrics::kBuckets] = {}, lat_sum_ns{0};
};

namespace {

constexpr unsigned kRingEntries = 1024;
constexpr unsigned kRecvBuffers = 512;   // per thread, shared by all connections
constexpr unsigned kRecvBufferSize = 8192;
constexpr size_t kMaxBufferedBytes = 64 * 1024;  // unparsed bytes a connection may hold
constexpr size_t kPipeSize = 1 << 20;
constexpr size_t kMaxHeaders = 64;

uint64_t NowMs() { return MonotonicNanos() / 1000000; }

const char* Reason(int code) {
  switch (code) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

bool IEq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (tolower(static_cast<unsigned char>(a[i])) != tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool ContainsToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view t = list.substr(0, comma);
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    if (IEq(t, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// If-Range (RFC 9110 13.1.5): the Range applies only if the validator still matches; an entity
// tag is compared strongly (a weak tag never matches), a date must equal Last-Modified exactly.
bool IfRangeHolds(std::string_view if_range, const HttpResponse& resp);

}  // namespace

bool EtagMatches(std::string_view inm, std::string_view etag) {
  while (!inm.empty()) {
    while (!inm.empty() && (inm.front() == ' ' || inm.front() == ',')) inm.remove_prefix(1);
    if (inm.empty()) break;
    if (inm.front() == '*') return true;
    if (inm.substr(0, 2) == "W/") inm.remove_prefix(2);
    if (inm.empty() || inm.front() != '"') return false;
    size_t close = inm.find('"', 1);
    if (close == std::string_view::npos) return false;
    std::string_view tag = inm.substr(0, close + 1);
    std::string_view mine = etag.substr(0, 2) == "W/" ? etag.substr(2) : etag;
    if (tag == mine) return true;
    inm.remove_prefix(close + 1);
  }
  return false;
}

std::string HttpDate(int64_t t) {
  // Every response carries two dates (Date, and Last-Modified of what it sends), and both repeat
  // from one response to the next: remember the last two per thread.
  struct Cached {
    int64_t t = -1;
    std::string text;
  };
  thread_local Cached cache[2];
  thread_local unsigned next = 0;
  for (const Cached& c : cache) {
    if (c.t == t) return c.text;
  }
  time_t tt = static_cast<time_t>(t);
  tm g;
  gmtime_r(&tt, &g);
  char buf[40];
  strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &g);
  Cached& slot = cache[next++ % 2];
  slot.t = t;
  slot.text = buf;
  return slot.text;
}

int64_t ParseHttpDate(std::string_view s) {
  tm g{};
  std::string str(s);
  const char* end = strptime(str.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &g);
  if (end == nullptr || *end != '\0') return -1;
  return static_cast<int64_t>(timegm(&g));
}

namespace {
bool IfRangeHolds(std::string_view if_range, const HttpResponse& resp) {
  if (if_range.empty()) return true;
  if (if_range.front() == '"' || if_range.substr(0, 2) == "W/") {
    return if_range.front() == '"' && !resp.etag.empty() && resp.etag.substr(0, 2) != "W/" &&
           if_range == resp.etag;
  }
  return resp.last_modified >= 0 && ParseHttpDate(if_range) == resp.last_modified;
}
}  // namespace

RangeResult ParseRange(std::string_view h, uint64_t length, ByteRange* out) {
  if (h.substr(0, 6) != "bytes=") return RangeResult::kNone;
  h.remove_prefix(6);
  if (h.find(',') != std::string_view::npos) return RangeResult::kNone;  // multi-range: full body
  size_t dash = h.find('-');
  if (dash == std::string_view::npos) return RangeResult::kNone;
  auto num = [](std::string_view s, uint64_t* v) {
    if (s.empty() || s.size() > 19) return false;
    uint64_t r = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      r = r * 10 + static_cast<uint64_t>(c - '0');
    }
    *v = r;
    return true;
  };
  std::string_view a = h.substr(0, dash), b = h.substr(dash + 1);
  if (a.empty()) {  // suffix: last N bytes
    uint64_t n;
    if (!num(b, &n)) return RangeResult::kNone;
    if (n == 0 || length == 0) return RangeResult::kUnsatisfiable;
    out->first = n >= length ? 0 : length - n;
    out->last = length - 1;
    return RangeResult::kSatisfiable;
  }
  uint64_t first;
  if (!num(a, &first)) return RangeResult::kNone;
  uint64_t last = length == 0 ? 0 : length - 1;
  if (!b.empty()) {
    if (!num(b, &last)) return RangeResult::kNone;
    if (last < first) return RangeResult::kNone;
    if (length > 0 && last >= length) last = length - 1;
  }
  if (first >= length) return RangeResult::kUnsatisfiable;
  out->first = first;
  out->last = last;
  return RangeResult::kSatisfiable;
}

class HttpServer::Loop {
 public:
  Loop(Shared* shared, int index) : sh_(shared), index_(index) {}
  ~Loop();
  Status Init();
  void AddListener(int fd, bool tls) {
    listeners_.push_back(std::make_unique<Listener>(this, fd, tls));
  }
  void Run();
  void Post(std::function<void()> fn);
  const std::string& mode() const { return ring_->mode(); }

  class Conn;
  void Deliver(uint64_t gen, HttpResponse resp);

 private:
  struct Listener : Completion {
    Listener(Loop* l, int f, bool t) : loop(l), fd(f), tls(t) {}
    void Arm() {
      // Non-blocking sockets, so that sendfile(2) and send(2) from the loop thread never wait;
      // every ring operation on them handles -EAGAIN (WaitWritable).
      io_uring_prep_multishot_accept(loop->ring_->Sqe(this), fd, nullptr, nullptr,
                                     SOCK_CLOEXEC | SOCK_NONBLOCK);
      armed = true;
    }
    void OnCqe(int res, uint32_t flags) override;
    Loop* loop;
    int fd;
    bool tls;
    bool armed = false;
  };
  struct Wake : Completion {
    explicit Wake(Loop* l) : loop(l) {}
    void Arm() { io_uring_prep_read(loop->ring_->Sqe(this), loop->event_fd_, &value, 8, 0); }
    void OnCqe(int, uint32_t) override {
      loop->RunPosted();
      if (!loop->sh_->stopping.load()) Arm();
    }
    Loop* loop;
    uint64_t value = 0;
  };
  void Accepted(int fd, bool tls);
  void RunPosted();

  Shared* sh_;
  int index_;
  std::unique_ptr<Ring> ring_;
  std::unique_ptr<BufferRing> bufs_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  int event_fd_ = -1;
  std::unique_ptr<Wake> wake_;
  std::mutex post_mu_;
  std::vector<std::function<void()>> posted_;  // GUARDED_BY(post_mu_)
  std::unordered_map<uint64_t, Conn*> live_;
  // The connection whose request the handler is running right now (on this thread), so that a
  // handler answering synchronously (most do) skips the live_ lookup.
  Conn* handling_ = nullptr;
  uint64_t handling_gen_ = 0;
  // Every connection's deadline (header, idle, send, handshake): what expired costs O(expired)
  // per tick, not a scan of all connections.
  TimerWheel wheel_{NowMs()};
  uint64_t next_gen_ = 1;
  size_t copy_held_ = 0;  // bytes of copied bodies held by this loop's connections
  std::thread::id thread_id_;
  friend class Conn;
};

class HttpServer::Loop::Conn {
 public:
  Conn(Loop* loop, int fd, uint64_t gen, bool tls) : loop_(loop), fd_(fd), gen_(gen) {
    SetDeadline(NowMs() + static_cast<uint64_t>(loop->sh_->opts.idle_timeout_ms));
    if (tls) {
      tls_ = std::make_unique<TlsSession>(*loop->sh_->tls);
      // The handshake must finish as fast as a request head must arrive.
      SetDeadline(NowMs() + static_cast<uint64_t>(loop->sh_->opts.header_timeout_ms));
    }
    socklen_t len = sizeof(peer_);
    getpeername(fd, reinterpret_cast<sockaddr*>(&peer_), &len);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (int lowat = loop->sh_->opts.notsent_lowat; lowat > 0) {
      setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
    }
  }
  void Start() { ArmRecv(); }
  void Close();
  void Deliver(HttpResponse resp);
  bool Expired(uint64_t now) const { return !closing_ && phase_ != kHandling && now > deadline_ms_; }
  uint64_t gen() const { return gen_; }

 private:
  enum Phase : uint8_t { kIdle, kHandling, kSending };
  struct Op final : Completion {
    using Fn = void (Conn::*)(int, uint32_t);
    Op(Conn* c, Fn fn) : c(c), fn(fn) {}
    void OnCqe(int r, uint32_t f) override { (c->*fn)(r, f); }
    Conn* c;
    Fn fn;
  };
  void ArmRecv();
  void OnRecv(int res, uint32_t flags);
  void TryProcess();
  void SendError(int code, bool close, const char* allow = nullptr);
  void StartSend();
  void SubmitSendHead();
  void OnSendHead(int res, uint32_t);
  void NextPiece();
  void SubmitSendMem();
  void OnSendMem(int res, uint32_t);
  void SubmitSpliceIn();
  void OnSpliceIn(int res, uint32_t);
  void SubmitSpliceOut();
  void OnSpliceOut(int res, uint32_t);
  void SubmitBounceSend();
  void OnBounceSend(int res, uint32_t);
  void FinishResponse();
  // File pieces through sendfile(2) on this thread, up to kSendfileTurn bytes per turn.
  void SendFileInline();
  // The socket is full (-EAGAIN, possible on any send of a non-blocking socket, from the ring
  // too): poll for POLLOUT, then call `resume`.
  void WaitWritable(void (Conn::*resume)());
  // The common start of a send's completion: counts res bytes sent and returns true, or handles
  // closing (the connection may be freed), EAGAIN (waits, then calls retry) and errors, and
  // returns false: the caller returns at once.
  bool Sent(int res, void (Conn::*retry)());
  void OnPollOut(int res, uint32_t);
  // Reads the whole body (`length` bytes) into out_ after the head; false if a file read failed.
  bool CopyBodyIntoHead(uint64_t length);
  // When every piece of a small body is in memory: iov_ = head + pieces, sent with one SENDMSG
  // and no copy in user space. False (iov_ empty) otherwise.
  bool GatherFromMemory();
  void StartGatherSend();
  void SubmitSendGather();
  void OnSendGather(int res, uint32_t);
  void ReleaseCopy() {
    loop_->copy_held_ -= copy_held_;
    copy_held_ = 0;
  }
  // Sends [data, data+len) for `op`: a plain send, or on TLS at most kTlsChunk bytes encrypted
  // and queued; op's handler then runs with the plaintext bytes consumed (or -EPIPE).
  void SubmitWrite(Op* op, const char* data, size_t len, int flags);
  bool TlsIn(const char* data, size_t n);  // false: fatal TLS error, close
  void TlsFlush();
  void ResendTls() {
    tls_sending_ = false;
    TlsFlush();
  }
  void OnTlsSend(int res, uint32_t);
  void Fail();
  void MaybeFree();
  void Progress() {
    SetDeadline(NowMs() + static_cast<uint64_t>(loop_->sh_->opts.send_timeout_ms));
  }
  // The wheel's timer moves only when the deadline comes earlier; a later deadline (each send's
  // progress) is found when the earlier one fires, and the timer is armed again then.
  void SetDeadline(uint64_t ms) {
    deadline_ms_ = ms;
    if (!deadline_timer_.armed() || ms + 1 < deadline_timer_.deadline_ms()) {
      loop_->wheel_.Arm(&deadline_timer_, ms + 1);  // Expired() is `now > deadline`
    }
  }
  void OnDeadline(uint64_t now) {
    if (closing_) return;
    if (Expired(now)) {
      loop_->sh_->errors.fetch_add(1, std::memory_order_relaxed);
      return Close();
    }
    // Not yet (a later deadline), or a handler is still working on the response: look again.
    loop_->wheel_.Arm(&deadline_timer_, phase_ == kHandling ? now + 1000 : deadline_ms_ + 1);
  }
  struct DeadlineTimer final : TimerWheel::Timer {
    explicit DeadlineTimer(Conn* c) : c(c) {}
    void OnTimer(uint64_t now) override { c->OnDeadline(now); }
    Conn* c;
  };

  Loop* loop_;
  int fd_;
  uint64_t gen_;
  sockaddr_storage peer_{};
  Phase phase_ = kIdle;
  bool recv_armed_ = false;
  bool peer_closed_ = false;
  bool closing_ = false;
  bool close_after_ = false;
  std::function<void(uint64_t)> on_sent_;  // the response's HttpResponse::on_sent
  uint64_t resp_bytes_ = 0;                 // bytes written for the current response
  int inflight_ = 0;  // SQEs whose final CQE has not arrived
  uint64_t deadline_ms_ = 0;
  DeadlineTimer deadline_timer_{this};
  bool head_started_ = false;
  std::string in_;  // received, unparsed bytes (empty while idle: no per-connection buffer)
  // The request being answered (copied out of in_, which the next recv may change).
  bool req_head_ = false;
  bool req_keep_alive_ = true;
  std::string req_range_, req_inm_, req_ims_, req_if_range_;
  uint64_t req_start_ns_ = 0;
  // Response being sent.
  std::string out_;
  size_t out_off_ = 0;
  size_t copy_held_ = 0;  // body bytes copied into out_ (counted in the loop's budget)
  std::vector<BodyPiece> pieces_;
  size_t piece_ = 0;
  uint64_t piece_off_ = 0;  // bytes of pieces_[piece_] already sent
  int pipe_r_ = -1, pipe_w_ = -1;
  uint64_t pipe_bytes_ = 0;
  size_t pipe_cap_ = 65536;
  bool bounce_ = false;  // no pipe could be had: copy through bounce_buf_
  std::string bounce_buf_;
  size_t bounce_off_ = 0;
  Op recv_op_{this, &Conn::OnRecv};
  Op send_head_op_{this, &Conn::OnSendHead};
  Op send_mem_op_{this, &Conn::OnSendMem};
  Op splice_in_op_{this, &Conn::OnSpliceIn};
  Op splice_out_op_{this, &Conn::OnSpliceOut};
  Op bounce_op_{this, &Conn::OnBounceSend};
  Op pollout_op_{this, &Conn::OnPollOut};
  Op send_gather_op_{this, &Conn::OnSendGather};
  std::vector<iovec> iov_;  // head and in-memory pieces of a gathered response
  size_t iov_next_ = 0;
  msghdr msg_{};
  void (Conn::*resume_)() = nullptr;  // what OnPollOut continues with
  // TLS (null for plain connections): ciphertext queue, one send in flight at a time.
  std::unique_ptr<TlsSession> tls_;
  std::string tls_out_;
  size_t tls_out_off_ = 0;
  bool tls_sending_ = false;
  Op* tls_pending_ = nullptr;  // the plaintext write waiting for its ciphertext to be sent
  int tls_pending_res_ = 0;
  Op tls_send_op_{this, &Conn::OnTlsSend};
};

namespace {
class ConnWriter : public ResponseWriter {
 public:
  ConnWriter(HttpServer::Loop* loop, uint64_t gen, std::thread::id tid)
      : loop_(loop), gen_(gen), tid_(tid) {}
  void Respond(HttpResponse resp) override {
    if (used_.exchange(true)) return;
    if (std::this_thread::get_id() == tid_) {
      loop_->Deliver(gen_, std::move(resp));
    } else {
      auto* loop = loop_;
      uint64_t gen = gen_;
      auto shared = std::make_shared<HttpResponse>(std::move(resp));
      loop_->Post([loop, gen, shared] { loop->Deliver(gen, std::move(*shared)); });
    }
  }

 private:
  HttpServer::Loop* loop_;
  uint64_t gen_;
  std::thread::id tid_;
  std::atomic<bool> used_{false};
};
}  // namespace

// ---------------------------------------------------------------- Loop

HttpServer::Loop::~Loop() {
  for (auto& l : listeners_) ::close(l->fd);
  if (event_fd_ >= 0) ::close(event_fd_);
}

Status HttpServer::Loop::Init() {
  SW_ASSIGN_OR_RETURN(ring_, Ring::Create(kRingEntries));
  SW_ASSIGN_OR_RETURN(bufs_, BufferRing::Create(ring_.get(), 0, kRecvBuffers, kRecvBufferSize));
  event_fd_ = eventfd(0, EFD_CLOEXEC);
  if (event_fd_ < 0) return FromErrno("eventfd", errno);
  wake_ = std::make_unique<Wake>(this);
  return Status::OK();
}

void HttpServer::Loop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(post_mu_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  ssize_t n = ::write(event_fd_, &one, sizeof(one));
  (void)n;
}

void HttpServer::Loop::RunPosted() {
  std::vector<std::function<void()>> fns;
  {
    std::lock_guard<std::mutex> l(post_mu_);
    fns.swap(posted_);
  }
  for (auto& f : fns) f();
}

void HttpServer::Loop::Listener::OnCqe(int res, uint32_t flags) {
  if (res >= 0) {
    loop->Accepted(res, tls);
  } else if (res != -ECANCELED && res != -EINVAL && res != -EBADF) {
    LOG(WARNING) << "accept: " << std::strerror(-res);
  }
  if (!(flags & IORING_CQE_F_MORE)) {
    armed = false;
    if (!loop->sh_->stopping.load() && res != -EBADF && res != -EINVAL) Arm();
  }
}

void HttpServer::Loop::Accepted(int fd, bool tls) {
  if (sh_->active.load() >= sh_->opts.max_connections || sh_->stopping.load()) {
    ::close(fd);  // over the cap: refuse at once rather than queue without bound
    return;
  }
  sh_->accepted.fetch_add(1, std::memory_order_relaxed);
  sh_->active.fetch_add(1, std::memory_order_relaxed);
  uint64_t gen = (static_cast<uint64_t>(index_) << 48) | next_gen_++;
  Conn* c = new Conn(this, fd, gen, tls);
  live_[gen] = c;
  c->Start();
}

void HttpServer::Loop::Deliver(uint64_t gen, HttpResponse resp) {
  if (handling_ != nullptr && handling_gen_ == gen) return handling_->Deliver(std::move(resp));
  auto it = live_.find(gen);
  if (it == live_.end()) return;  // the client went away: drop the response
  it->second->Deliver(std::move(resp));
}

void HttpServer::Loop::Run() {
  thread_id_ = std::this_thread::get_id();
  // sendfile(2) to a socket the client reset raises SIGPIPE (it has no MSG_NOSIGNAL): block it
  // on this thread, so the call fails with EPIPE instead of killing the process.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  for (auto& l : listeners_) l->Arm();
  wake_->Arm();
  bool closing_listeners = false;
  uint64_t stop_deadline = 0;
  for (;;) {
    ring_->RunOnce(200);
    uint64_t now = NowMs();
    wheel_.Advance(now);
    if (sh_->stopping.load()) {
      if (!closing_listeners) {
        closing_listeners = true;
        stop_deadline = now + 2000;
        for (auto& l : listeners_) ::shutdown(l->fd, SHUT_RDWR);
        std::vector<Conn*> all;
        for (auto& [g, c] : live_) all.push_back(c);
        for (Conn* c : all) c->Close();
      }
      RunPosted();
      if (live_.empty() || now > stop_deadline) break;
    }
  }
}

// ---------------------------------------------------------------- Conn

void HttpServer::Loop::Conn::ArmRecv() {
  if (recv_armed_ || closing_ || peer_closed_) return;
  io_uring_sqe* sqe = loop_->ring_->Sqe(&recv_op_);
  io_uring_prep_recv_multishot(sqe, fd_, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = loop_->bufs_->group();
  recv_armed_ = true;
  ++inflight_;
}

void HttpServer::Loop::Conn::OnRecv(int res, uint32_t flags) {
  bool final = !(flags & IORING_CQE_F_MORE);
  if (final) {
    recv_armed_ = false;
    --inflight_;
  }
  if (res > 0) {
    unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
    // Copy out and recycle the shared buffer at once (receive -> use -> recycle).
    bool tls_ok = true;
    if (!closing_ && tls_) {
      tls_ok = TlsIn(loop_->bufs_->Buffer(id), static_cast<size_t>(res));
    } else if (!closing_) {
      in_.append(loop_->bufs_->Buffer(id), static_cast<size_t>(res));
    }
    loop_->bufs_->Recycle(id);
    if (!tls_ok) {
      if (closing_) return MaybeFree();
      return Fail();
    }
  } else if (res == 0) {
    peer_closed_ = true;
  } else if (res != -ENOBUFS && res != -EAGAIN) {
    // Close() may free this connection: return right after it.
    if (closing_) return MaybeFree();
    loop_->sh_->errors.fetch_add(1, std::memory_order_relaxed);
    return Close();
  }
  if (closing_) return MaybeFree();
  if (in_.size() > kMaxBufferedBytes) {  // a client flooding us with pipelined bytes
    Close();
    return;
  }
  if (final && !peer_closed_) ArmRecv();  // re-arm on !F_MORE (incl. -ENOBUFS)
  TryProcess();
}

void HttpServer::Loop::Conn::TryProcess() {
  if (closing_ || phase_ != kIdle) return;
  const HttpServerOptions& o = loop_->sh_->opts;
  if (tls_ && !tls_->handshake_done()) {
    if (peer_closed_) Close();
    return;  // the handshake keeps the header-timeout deadline set when the connection came
  }
  if (in_.empty()) {
    head_started_ = false;
    if (peer_closed_) {
      Close();
      return;
    }
    SetDeadline(NowMs() + static_cast<uint64_t>(o.idle_timeout_ms));
    return;
  }
  HttpRequest req;
  HttpHeaderView headers[kMaxHeaders];
  long n = ParseRequestHead(in_.data(), in_.size(), &req, headers, kMaxHeaders);
  if (n == kHeadIncomplete) {
    if (in_.size() > o.max_head_bytes) {
      SendError(431, true);
    } else if (peer_closed_) {
      Close();
    } else if (!head_started_) {
      head_started_ = true;  // the header timeout runs from the first byte of a head
      SetDeadline(NowMs() + static_cast<uint64_t>(o.header_timeout_ms));
    }
    return;
  }
  head_started_ = false;
  if (n == kHeadTooManyHeaders) return SendError(431, true);
  if (n == kHeadBad) return SendError(400, true);
  if (static_cast<size_t>(n) > o.max_head_bytes) return SendError(431, true);
  if (req.target.size() > o.max_uri_bytes) return SendError(414, true);
  req_start_ns_ = MonotonicNanos();
  bool is_get = req.method == "GET", is_head = req.method == "HEAD";
  if (!is_get && !is_head) {
    static const char* kKnown[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"};
    for (const char* m : kKnown) {
      if (req.method == m) return SendError(405, true, "GET, HEAD");
    }
    return SendError(501, true);
  }
  std::string_view cl = req.Header("Content-Length");
  if (!req.Header("Transfer-Encoding").empty() || (!cl.empty() && cl != "0")) {
    return SendError(413, true);  // provisioning requests carry no body
  }
  std::string_view conn_hdr = req.Header("Connection");
  req_keep_alive_ = req.minor_version >= 1 ? !ContainsToken(conn_hdr, "close")
                                           : ContainsToken(conn_hdr, "keep-alive");
  req_head_ = is_head;
  req_range_ = std::string(req.Header("Range"));
  req_inm_ = std::string(req.Header("If-None-Match"));
  req_ims_ = std::string(req.Header("If-Modified-Since"));
  req_if_range_ = std::string(req.Header("If-Range"));
  // Path: collapse "//" (Warewulf's slashFix) in a private copy, split the query.
  std::string target(req.target);
  size_t q = target.find('?');
  std::string path = target.substr(0, q);
  path.resize(CollapseSlashes(path.data(), path.size()));
  std::string query = q == std::string::npos ? "" : target.substr(q + 1);
  req.path = path;
  req.query = query;
  req.peer = peer_;
  req.peer_port = peer_.ss_family == AF_INET6
                      ? ntohs(reinterpret_cast<sockaddr_in6*>(&peer_)->sin6_port)
                      : ntohs(reinterpret_cast<sockaddr_in*>(&peer_)->sin_port);
  req.tls = tls_ != nullptr;
  phase_ = kHandling;
  loop_->sh_->requests.fetch_add(1, std::memory_order_relaxed);
  auto writer = std::make_shared<ConnWriter>(loop_, gen_, loop_->thread_id_);
  // The handler may answer synchronously (Deliver runs before Handle returns) or later; the
  // request's views point into in_, so the head is dropped from in_ only after Handle.
  loop_->handling_ = this;
  loop_->handling_gen_ = gen_;
  loop_->sh_->handler->Handle(req, writer);
  loop_->handling_ = nullptr;
  if (!closing_) in_.erase(0, static_cast<size_t>(n));
}

void HttpServer::Loop::Conn::SendError(int code, bool close, const char* allow) {
  req_head_ = false;
  req_keep_alive_ = !close;
  req_range_.clear();
  req_inm_.clear();
  req_ims_.clear();
  req_if_range_.clear();
  if (req_start_ns_ == 0) req_start_ns_ = MonotonicNanos();
  phase_ = kHandling;
  HttpResponse r = HttpResponse::Status(code);
  r.close = close;
  if (allow) r.extra_headers.emplace_back("Allow", allow);
  in_.clear();
  Deliver(std::move(r));
}

void HttpServer::Loop::Conn::Deliver(HttpResponse resp) {
  if (closing_ || phase_ != kHandling) return;
  Shared* sh = loop_->sh_;
  int status = resp.status;
  uint64_t length = resp.BodyLength();
  std::string content_range;
  if (status == 200) {
    bool not_modified = false;
    if (!req_inm_.empty()) {
      not_modified = !resp.etag.empty() && EtagMatches(req_inm_, resp.etag);
    } else if (!req_ims_.empty() && resp.last_modified >= 0) {
      int64_t ims = ParseHttpDate(req_ims_);
      not_modified = ims >= 0 && resp.last_modified <= ims;
    }
    if (not_modified) {
      status = 304;
    } else if (resp.allow_ranges && !req_range_.empty() && IfRangeHolds(req_if_range_, resp)) {
      ByteRange r;
      switch (ParseRange(req_range_, length, &r)) {
        case RangeResult::kNone:
          break;
        case RangeResult::kUnsatisfiable:
          status = 416;
          content_range = "bytes */" + std::to_string(length);
          break;
        case RangeResult::kSatisfiable: {
          status = 206;
          content_range = "bytes " + std::to_string(r.first) + "-" + std::to_string(r.last) + "/" +
                          std::to_string(length);
          // Slice the pieces to [first, last].
          std::vector<BodyPiece> sliced;
          uint64_t pos = 0;
          for (auto& p : resp.body) {
            uint64_t a = pos, b = pos + p.length;  // [a, b)
            pos = b;
            if (b <= r.first || a > r.last) continue;
            uint64_t from = std::max(a, r.first), to = std::min(b, r.last + 1);
            BodyPiece s = p;
            s.offset = p.offset + (from - a);
            s.length = to - from;
            sliced.push_back(std::move(s));
          }
          resp.body = std::move(sliced);
          length = r.last - r.first + 1;
          break;
        }
      }
    }
  }
  bool close = resp.close || !req_keep_alive_ || sh->stopping.load();
  close_after_ = close;
  on_sent_ = std::move(resp.on_sent);
  resp_bytes_ = 0;
  out_.clear();
  out_ += "HTTP/1.1 ";
  out_ += std::to_string(status);
  out_ += ' ';
  out_ += Reason(status);
  out_ += "\r\nServer: stormwulfd\r\nDate: ";
  out_ += HttpDate(WallSeconds());
  out_ += "\r\n";
  bool ok_class = status == 200 || status == 206 || status == 304;
  if (ok_class) {
    if (!resp.etag.empty()) out_ += "ETag: " + resp.etag + "\r\n";
    if (resp.last_modified >= 0) out_ += "Last-Modified: " + HttpDate(resp.last_modified) + "\r\n";
    if (resp.allow_ranges && status != 304) out_ += "Accept-Ranges: bytes\r\n";
    if (!resp.content_type.empty() && status != 304) out_ += "Content-Type: " + resp.content_type + "\r\n";
  }
  for (const auto& [k, v] : resp.extra_headers) out_ += k + ": " + v + "\r\n";
  if (!content_range.empty()) out_ += "Content-Range: " + content_range + "\r\n";
  bool send_body = status != 304 && status != 416 && !req_head_;
  if (status == 416) length = 0;
  if (status != 304) out_ += "Content-Length: " + std::to_string(length) + "\r\n";
  if (close) out_ += "Connection: close\r\n";
  out_ += "\r\n";
  pieces_.clear();
  if (send_body) {
    for (auto& p : resp.body) {
      if (p.length > 0) pieces_.push_back(std::move(p));
    }
  }
  sh->by_status[std::min(status / 100, 5)].fetch_add(1, std::memory_order_relaxed);
  if (status == 304) sh->s304.fetch_add(1, std::memory_order_relaxed);
  if (!pieces_.empty() && !tls_ && length <= sh->opts.copy_body_max) {
    if (GatherFromMemory()) return StartGatherSend();
    if (loop_->copy_held_ + length <= sh->opts.copy_budget_per_loop && !CopyBodyIntoHead(length)) {
      return Fail();
    }
  }
  StartSend();
}

bool HttpServer::Loop::Conn::GatherFromMemory() {
  iov_.clear();
  iov_.push_back(iovec{out_.data(), out_.size()});
  for (const BodyPiece& p : pieces_) {
    const char* base;
    if (p.mem) {
      base = p.mem->data();
    } else {
      const std::string* c = p.file->Contents();
      if (c == nullptr || p.offset + p.length > c->size()) {
        iov_.clear();
        return false;
      }
      base = c->data();
    }
    iov_.push_back(iovec{const_cast<char*>(base + p.offset), static_cast<size_t>(p.length)});
  }
  return true;
}

void HttpServer::Loop::Conn::StartGatherSend() {
  phase_ = kSending;
  iov_next_ = 0;
  Progress();
  SubmitSendGather();
}

void HttpServer::Loop::Conn::SubmitSendGather() {
  msg_ = msghdr{};
  msg_.msg_iov = iov_.data() + iov_next_;
  msg_.msg_iovlen = iov_.size() - iov_next_;
  io_uring_prep_sendmsg(loop_->ring_->Sqe(&send_gather_op_), fd_, &msg_, MSG_NOSIGNAL);
  ++inflight_;
}

void HttpServer::Loop::Conn::OnSendGather(int res, uint32_t) {
  if (!Sent(res, &Conn::SubmitSendGather)) return;
  for (size_t left = static_cast<size_t>(res); left > 0 && iov_next_ < iov_.size();) {
    iovec& v = iov_[iov_next_];
    size_t n = std::min(left, v.iov_len);
    v.iov_base = static_cast<char*>(v.iov_base) + n;
    v.iov_len -= n;
    left -= n;
    if (v.iov_len == 0) ++iov_next_;
  }
  if (iov_next_ < iov_.size()) return SubmitSendGather();
  iov_.clear();
  FinishResponse();
}

bool HttpServer::Loop::Conn::CopyBodyIntoHead(uint64_t length) {
  const size_t head = out_.size();
  out_.resize(head + length);
  char* dst = out_.data() + head;
  for (const BodyPiece& p : pieces_) {
    if (p.mem) {
      std::memcpy(dst, p.mem->data() + p.offset, p.length);
      dst += p.length;
      continue;
    }
    const std::string* c = p.file->Contents();
    if (c != nullptr && p.offset + p.length <= c->size()) {  // else the read below reports it
      std::memcpy(dst, c->data() + p.offset, p.length);
      dst += p.length;
      continue;
    }
    // Store files of small bodies (overlays, scripts) are hot in the page cache. A file shorter
    // than the manifest says is an error: never send a short body.
    if (Status s = PreadAll(p.file->fd.get(), dst, p.length, p.offset, p.file->path); !s.ok()) {
      LOG(WARNING) << s.ToString();
      out_.resize(head);
      return false;
    }
    dst += p.length;
  }
  pieces_.clear();
  copy_held_ = length;
  loop_->copy_held_ += length;
  return true;
}

void HttpServer::Loop::Conn::StartSend() {
  phase_ = kSending;
  out_off_ = 0;
  piece_ = 0;
  piece_off_ = 0;
  Progress();
  SubmitSendHead();
}

void HttpServer::Loop::Conn::SubmitSendHead() {
  SubmitWrite(&send_head_op_, out_.data() + out_off_, out_.size() - out_off_,
              pieces_.empty() ? 0 : MSG_MORE);
}

void HttpServer::Loop::Conn::OnSendHead(int res, uint32_t) {
  if (!Sent(res, &Conn::SubmitSendHead)) return;
  out_off_ += static_cast<size_t>(res);
  if (out_off_ < out_.size()) return SubmitSendHead();
  NextPiece();
}

void HttpServer::Loop::Conn::NextPiece() {
  while (piece_ < pieces_.size() && piece_off_ >= pieces_[piece_].length) {
    ++piece_;
    piece_off_ = 0;
  }
  if (piece_ >= pieces_.size()) return FinishResponse();
  if (pieces_[piece_].mem) return SubmitSendMem();
  if (!tls_ && loop_->sh_->opts.inline_sendfile) return SendFileInline();
  SubmitSpliceIn();
}

void HttpServer::Loop::Conn::SendFileInline() {
  // Fairness: a connection moves at most this much per turn, then lets the others run (the
  // POLLOUT poll of a writable socket completes on the next pass of the ring).
  constexpr uint64_t kSendfileTurn = 1 << 20;
  uint64_t turn = 0;
  for (;;) {
    while (piece_ < pieces_.size() && piece_off_ >= pieces_[piece_].length) {
      ++piece_;
      piece_off_ = 0;
    }
    if (piece_ >= pieces_.size() || pieces_[piece_].mem) break;
    if (turn >= kSendfileTurn) {
      return WaitWritable(&Conn::NextPiece);
    }
    const BodyPiece& p = pieces_[piece_];
    off_t off = static_cast<off_t>(p.offset + piece_off_);
    size_t want = static_cast<size_t>(std::min(p.length - piece_off_, kSendfileTurn - turn));
    ssize_t n = ::sendfile(fd_, p.file->fd.get(), &off, want);
    if (n > 0) {
      piece_off_ += static_cast<uint64_t>(n);
      turn += static_cast<uint64_t>(n);
      loop_->sh_->bytes_sent.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      resp_bytes_ += static_cast<uint64_t>(n);
      Progress();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return WaitWritable(&Conn::NextPiece);
    if (n == 0) {  // the file is shorter than the manifest says: never send a short body
      LOG(WARNING) << "sendfile from " << p.file->path << ": unexpected end of file";
    }
    return Fail();  // EPIPE, ECONNRESET: the client went away
  }
  NextPiece();  // a memory piece, or the end of the response
}

bool HttpServer::Loop::Conn::Sent(int res, void (Conn::*retry)()) {
  --inflight_;
  if (closing_) {
    MaybeFree();  // may delete this
    return false;
  }
  if (res == -EAGAIN) {
    WaitWritable(retry);
    return false;
  }
  if (res <= 0) {
    Fail();
    return false;
  }
  loop_->sh_->bytes_sent.fetch_add(static_cast<uint64_t>(res), std::memory_order_relaxed);
  resp_bytes_ += static_cast<uint64_t>(res);
  Progress();
  return true;
}

void HttpServer::Loop::Conn::WaitWritable(void (Conn::*resume)()) {
  resume_ = resume;
  io_uring_prep_poll_add(loop_->ring_->Sqe(&pollout_op_), fd_, POLLOUT);
  ++inflight_;
}

void HttpServer::Loop::Conn::OnPollOut(int res, uint32_t) {
  --inflight_;
  if (closing_) return MaybeFree();
  if (res < 0) return Fail();
  (this->*resume_)();
}

void HttpServer::Loop::Conn::SubmitSendMem() {
  const BodyPiece& p = pieces_[piece_];
  bool more = piece_ + 1 < pieces_.size();
  SubmitWrite(&send_mem_op_, p.mem->data() + p.offset + piece_off_,
              static_cast<size_t>(p.length - piece_off_), more ? MSG_MORE : 0);
}

void HttpServer::Loop::Conn::OnSendMem(int res, uint32_t) {
  if (!Sent(res, &Conn::SubmitSendMem)) return;
  piece_off_ += static_cast<uint64_t>(res);
  NextPiece();
}

void HttpServer::Loop::Conn::SubmitSpliceIn() {
  // TLS encrypts in user space: file bytes go through the bounce buffer (the kernel's TLS ULP,
  // which would let splice carry on, is not available everywhere; docs/http-engine.md).
  if (tls_) bounce_ = true;
  if (pipe_r_ < 0 && !bounce_) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
      // Out of descriptors (every sending connection holds a pipe): fall back to copying this
      // response through a small buffer rather than failing the node.
      bounce_ = true;
      return SubmitSpliceIn();
    }
    pipe_r_ = p[0];
    pipe_w_ = p[1];
    // A bigger pipe moves more per splice pair (fewer round trips); keep the default if the
    // system refuses (pipe-max-size or the per-user pipe budget).
    int got = fcntl(pipe_w_, F_SETPIPE_SZ, static_cast<int>(kPipeSize));
    if (got > 0) pipe_cap_ = static_cast<size_t>(got);
  }
  const BodyPiece& p = pieces_[piece_];
  if (bounce_) {
    bounce_buf_.resize(64 * 1024);
    uint64_t want = std::min<uint64_t>(p.length - piece_off_, bounce_buf_.size());
    ssize_t n = ::pread(p.file->fd.get(), bounce_buf_.data(), want,
                        static_cast<off_t>(p.offset + piece_off_));
    if (n <= 0) return Fail();
    bounce_buf_.resize(static_cast<size_t>(n));
    bounce_off_ = 0;
    piece_off_ += static_cast<uint64_t>(n);
    return SubmitBounceSend();
  }
  uint64_t len = std::min<uint64_t>(p.length - piece_off_, pipe_cap_);
  io_uring_sqe* sqe = loop_->ring_->Sqe(&splice_in_op_);
  io_uring_prep_splice(sqe, p.file->fd.get(), static_cast<int64_t>(p.offset + piece_off_), pipe_w_,
                       -1, static_cast<unsigned>(len), 0);
  ++inflight_;
}

void HttpServer::Loop::Conn::OnSpliceIn(int res, uint32_t) {
  --inflight_;
  if (closing_) return MaybeFree();
  if (res <= 0) {  // 0 = the file is shorter than the manifest says: never send a short body
    LOG(WARNING) << "splice from " << pieces_[piece_].file->path << ": "
                 << (res == 0 ? "unexpected end of file" : std::strerror(-res));
    return Fail();
  }
  pipe_bytes_ = static_cast<uint64_t>(res);
  piece_off_ += static_cast<uint64_t>(res);
  SubmitSpliceOut();
}

void HttpServer::Loop::Conn::SubmitSpliceOut() {
  io_uring_sqe* sqe = loop_->ring_->Sqe(&splice_out_op_);
  // SPLICE_F_MORE corks the socket; on the response's last bytes it would hold them back until
  // the kernel's 200 ms cork timer fires (a client waiting for the end of the body, like a
  // sequential keep-alive fetcher, would wait that long on every response).
  bool more = piece_ + 1 < pieces_.size() || piece_off_ < pieces_[piece_].length;
  io_uring_prep_splice(sqe, pipe_r_, -1, fd_, -1, static_cast<unsigned>(pipe_bytes_),
                       more ? SPLICE_F_MORE : 0);
  ++inflight_;
}

void HttpServer::Loop::Conn::OnSpliceOut(int res, uint32_t) {
  if (!Sent(res, &Conn::SubmitSpliceOut)) return;
  pipe_bytes_ -= static_cast<uint64_t>(res);
  if (pipe_bytes_ > 0) return SubmitSpliceOut();
  NextPiece();
}

void HttpServer::Loop::Conn::SubmitBounceSend() {
  SubmitWrite(&bounce_op_, bounce_buf_.data() + bounce_off_, bounce_buf_.size() - bounce_off_, 0);
}

void HttpServer::Loop::Conn::OnBounceSend(int res, uint32_t) {
  if (!Sent(res, &Conn::SubmitBounceSend)) return;
  bounce_off_ += static_cast<size_t>(res);
  if (bounce_off_ < bounce_buf_.size()) return SubmitBounceSend();
  NextPiece();
}

void HttpServer::Loop::Conn::FinishResponse() {
  Shared* sh = loop_->sh_;
  uint64_t ns = MonotonicNanos() - req_start_ns_;
  double us = static_cast<double>(ns) / 1000.0;
  int b = 0;
  for (double bound = 100; b < HttpMetrics::kBuckets - 1 && us > bound; bound *= 4) ++b;
  sh->lat[b].fetch_add(1, std::memory_order_relaxed);
  sh->lat_sum_ns.fetch_add(ns, std::memory_order_relaxed);
  pieces_.clear();  // unpins the files
  ReleaseCopy();
  bounce_ = false;
  std::string().swap(bounce_buf_);
  out_.clear();
  out_.shrink_to_fit();
  req_start_ns_ = 0;
  phase_ = kIdle;
  if (on_sent_) {
    auto done = std::move(on_sent_);
    on_sent_ = nullptr;
    done(resp_bytes_);
  }
  if (pipe_r_ >= 0) {  // idle connections hold no pipe
    ::close(pipe_r_);
    ::close(pipe_w_);
    pipe_r_ = pipe_w_ = -1;
  }
  if (close_after_) return Close();
  if (in_.empty()) in_.shrink_to_fit();
  if (!recv_armed_ && !peer_closed_) ArmRecv();
  TryProcess();
}

void HttpServer::Loop::Conn::SubmitWrite(Op* op, const char* data, size_t len, int flags) {
  ++inflight_;  // op's handler always runs once and decrements it
  if (!tls_) {
    io_uring_prep_send(loop_->ring_->Sqe(op), fd_, data, len, MSG_NOSIGNAL | flags);
    return;
  }
  constexpr size_t kTlsChunk = 64 * 1024;  // four full TLS records per round
  size_t n = std::min(len, kTlsChunk);
  tls_pending_ = op;
  tls_pending_res_ = tls_->Write(data, n) ? static_cast<int>(n) : -EPROTO;
  if (tls_pending_res_ < 0) LOG(DEBUG) << tls_->error();
  TlsFlush();
  if (!tls_sending_) {
    // Nothing to send (cannot happen after a successful write): complete through the ring so
    // the handler never runs inside this call.
    io_uring_prep_nop(loop_->ring_->Sqe(&tls_send_op_));
    tls_sending_ = true;
    ++inflight_;
  }
}

bool HttpServer::Loop::Conn::TlsIn(const char* data, size_t n) {
  TlsSession::Event ev = tls_->Feed(data, n, &in_);
  if (ev == TlsSession::Event::kError) {
    LOG(DEBUG) << "peer " << gen_ << ": " << tls_->error();
    return false;
  }
  if (ev == TlsSession::Event::kPeerClosed) peer_closed_ = true;
  TlsFlush();  // handshake messages
  return true;
}

void HttpServer::Loop::Conn::TlsFlush() {
  if (tls_sending_ || closing_) return;
  if (tls_out_off_ >= tls_out_.size()) {
    tls_out_.clear();
    tls_out_off_ = 0;
  }
  tls_->TakeOutput(&tls_out_);
  if (tls_out_off_ >= tls_out_.size()) return;
  io_uring_prep_send(loop_->ring_->Sqe(&tls_send_op_), fd_, tls_out_.data() + tls_out_off_,
                     tls_out_.size() - tls_out_off_, MSG_NOSIGNAL);
  tls_sending_ = true;
  ++inflight_;
}

void HttpServer::Loop::Conn::OnTlsSend(int res, uint32_t) {
  --inflight_;
  tls_sending_ = false;
  bool nop = tls_out_off_ >= tls_out_.size();  // the io_uring_prep_nop completion
  if (res == -EAGAIN && !nop && !closing_) {
    tls_sending_ = true;  // nothing else may send until the poll resumes this send
    return WaitWritable(&Conn::ResendTls);
  }
  if (closing_ || (!nop && res <= 0)) {
    if (Op* p = std::exchange(tls_pending_, nullptr)) return p->OnCqe(-EPIPE, 0);
    return closing_ ? MaybeFree() : Fail();
  }
  if (!nop) {
    tls_out_off_ += static_cast<size_t>(res);
    Progress();
  }
  TlsFlush();
  if (tls_sending_) return;
  // Every byte of ciphertext so far is on the wire: the pending plaintext write is complete.
  if (Op* p = std::exchange(tls_pending_, nullptr)) p->OnCqe(tls_pending_res_, 0);
}

void HttpServer::Loop::Conn::Fail() {
  loop_->sh_->errors.fetch_add(1, std::memory_order_relaxed);
  Close();
}

void HttpServer::Loop::Conn::Close() {
  if (closing_) return;
  closing_ = true;
  // shutdown() completes the armed multishot recv and fails any send/splice in flight, so every
  // outstanding SQE delivers its final CQE; the fd is closed and this freed only after that.
  if (tls_ && !tls_sending_ && tls_->handshake_done()) {
    // Best effort close_notify so clients see a clean end; never wait for it.
    tls_->Shutdown();
    std::string alert;
    if (tls_->TakeOutput(&alert)) {
      ssize_t n = ::send(fd_, alert.data(), alert.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      (void)n;
    }
  }
  ::shutdown(fd_, SHUT_RDWR);
  MaybeFree();
}

void HttpServer::Loop::Conn::MaybeFree() {
  if (!closing_ || inflight_ > 0) return;
  ReleaseCopy();
  if (pipe_r_ >= 0) {
    ::close(pipe_r_);
    ::close(pipe_w_);
  }
  ::close(fd_);
  loop_->wheel_.Cancel(&deadline_timer_);
  loop_->live_.erase(gen_);
  loop_->sh_->active.fetch_sub(1, std::memory_order_relaxed);
  delete this;
}

// ---------------------------------------------------------------- HttpServer

HttpServer::HttpServer(HttpServerOptions opts, HttpHandler* handler)
    : opts_(std::move(opts)), handler_(handler), shared_(std::make_shared<Shared>()) {
  shared_->opts = opts_;
  shared_->handler = handler_;
}

HttpServer::~HttpServer() { Stop(); }

namespace {
Result<sockaddr_storage> ParseListen(const std::string& s, socklen_t* len) {
  sockaddr_storage ss{};
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return Status::InvalidArgument("bad listen address '" + s + "' (want [v6]:port)");
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string::npos) return Status::InvalidArgument("bad listen address '" + s + "'");
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  char* end = nullptr;
  long p = strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535) {
    return Status::InvalidArgument("bad port in listen address '" + s + "'");
  }
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (inet_pton(AF_INET, host.empty() ? "0.0.0.0" : host.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(static_cast<uint16_t>(p));
    *len = sizeof(*s4);
  } else if (inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(static_cast<uint16_t>(p));
    *len = sizeof(*s6);
  } else {
    return Status::InvalidArgument("listen address '" + s + "' is not a numeric IP address");
  }
  return ss;
}
}  // namespace

Status HttpServer::Start() {
  int n = opts_.threads > 0 ? opts_.threads : static_cast<int>(std::thread::hardware_concurrency());
  if (n < 1) n = 1;
  // SINGLE_ISSUER|DEFER_TASKRUN rings belong to the thread that creates them, so each loop
  // creates its ring on its own thread; the listeners are handed over before it starts running.
  std::vector<std::promise<Status>> inited(static_cast<size_t>(n));
  std::promise<bool> go;
  std::shared_future<bool> go_future = go.get_future().share();
  for (int i = 0; i < n; ++i) loops_.push_back(std::make_unique<Loop>(shared_.get(), i));
  for (int i = 0; i < n; ++i) {
    Loop* l = loops_[static_cast<size_t>(i)].get();
    std::promise<Status>* p = &inited[static_cast<size_t>(i)];
    threads_.emplace_back([l, p, go_future] {
      p->set_value(l->Init());
      if (go_future.get()) l->Run();
    });
  }
  Status init_status;
  for (auto& p : inited) {
    Status s = p.get_future().get();
    if (!s.ok() && init_status.ok()) init_status = s;
  }
  auto abort_start = [&](Status s) {
    go.set_value(false);
    for (auto& t : threads_) t.join();
    threads_.clear();
    loops_.clear();
    return s;
  };
  if (!init_status.ok()) return abort_start(init_status);
  ring_mode_ = loops_[0]->mode();
  if (!opts_.tls_listen.empty()) {
    auto ctx = TlsContext::Create(opts_.tls_cert, opts_.tls_key);
    if (!ctx.ok()) return abort_start(ctx.status());
    shared_->tls = *ctx;
  }
  std::vector<std::pair<std::string, bool>> all_listen;
  for (const auto& a : opts_.listen) all_listen.emplace_back(a, false);
  for (const auto& a : opts_.tls_listen) all_listen.emplace_back(a, true);
  for (const auto& [addr, tls] : all_listen) {
    socklen_t len = 0;
    auto parsed = ParseListen(addr, &len);
    if (!parsed.ok()) return abort_start(parsed.status());
    sockaddr_storage ss = *parsed;
    uint16_t bound = 0;
    for (auto& loop : loops_) {
      int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return abort_start(FromErrno("socket", errno));
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      // One listener per thread; the kernel spreads new connections across them.
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
      if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
      if (bound != 0) {
        if (ss.ss_family == AF_INET6) {
          reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(bound);
        } else {
          reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(bound);
        }
      }
      if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        Status s = FromErrno("bind " + addr, errno);
        ::close(fd);
        return abort_start(s);
      }
      if (listen(fd, 4096) != 0) {
        Status s = FromErrno("listen " + addr, errno);
        ::close(fd);
        return abort_start(s);
      }
      if (bound == 0) {
        sockaddr_storage got{};
        socklen_t gl = sizeof(got);
        getsockname(fd, reinterpret_cast<sockaddr*>(&got), &gl);
        bound = ntohs(got.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&got)->sin6_port
                                                 : reinterpret_cast<sockaddr_in*>(&got)->sin_port);
      }
      loop->AddListener(fd, tls);
    }
    ports_.push_back(bound);
  }
  go.set_value(true);
  return Status::OK();
}

void HttpServer::Stop() {
  if (threads_.empty()) return;
  shared_->stopping.store(true);
  for (auto& loop : loops_) loop->Post([] {});
  for (auto& t : threads_) t.join();
  threads_.clear();
  loops_.clear();
}

HttpMetrics HttpServer::Metrics() const {
  HttpMetrics m;
  const Shared& s = *shared_;
  m.requests = s.requests.load();
  for (int i = 0; i < 6; ++i) m.by_status[i] = s.by_status[i].load();
  m.status_304 = s.s304.load();
  m.bytes_sent = s.bytes_sent.load();
  m.active_connections = s.active.load();
  m.accepted = s.accepted.load();
  m.errors = s.errors.load();
  for (int i = 0; i < HttpMetrics::kBuckets; ++i) m.latency_buckets[i] = s.lat[i].load();
  m.latency_sum_seconds = static_cast<double>(s.lat_sum_ns.load()) / 1e9;
  return m;
}

}  // namespace sw
