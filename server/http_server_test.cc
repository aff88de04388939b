// The HTTP engine over real loopback sockets with a test handler.
#include "server/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/fs_util.h"
#include "gtest/gtest.h"
#include "server/artifacts.h"

namespace sw {
namespace {

class TestHandler : public HttpHandler {
 public:
  explicit TestHandler(std::string dir) : dir_(std::move(dir)) {}
  void Handle(const HttpRequest& req, std::shared_ptr<ResponseWriter> w) override {
    std::string path(req.path);
    if (path == "/file") {  // two file pieces and a memory piece: ranges cross pieces
      HttpResponse r;
      auto a = files_.Open(dir_ + "/a");  // 3 MiB: always from the file
      auto b = files_.Open(dir_ + "/b");  // small: from memory when copied
      r.body.push_back(BodyPiece{*a, nullptr, 0, (*a)->size});
      r.body.push_back(BodyPiece{nullptr, std::make_shared<const std::string>("MEM"), 0, 3});
      r.body.push_back(BodyPiece{*b, nullptr, 0, (*b)->size});
      r.etag = "\"v1\"";
      r.last_modified = 1700000000;
      w->Respond(std::move(r));
    } else if (path == "/small") {  // 200 KiB file + memory: gathered from memory when cached
      HttpResponse r;
      auto c = files_.Open(dir_ + "/c");
      r.body.push_back(BodyPiece{nullptr, std::make_shared<const std::string>("head-"), 0, 5});
      r.body.push_back(BodyPiece{*c, nullptr, 0, (*c)->size});
      w->Respond(std::move(r));
    } else if (path == "/short") {  // the file is shorter than the piece says
      HttpResponse r;
      auto b = files_.Open(dir_ + "/b");
      r.body.push_back(BodyPiece{*b, nullptr, 0, (*b)->size + 8});
      w->Respond(std::move(r));
    } else if (path == "/deferred") {
      std::thread([w] {
        usleep(50000);
        HttpResponse r;
        r.body.push_back(BodyPiece{nullptr, std::make_shared<const std::string>("later"), 0, 5});
        w->Respond(std::move(r));
      }).detach();
    } else {
      w->Respond(HttpResponse::Status(404));
    }
  }

 private:
  std::string dir_;
  FileCache files_{16, 256 * 1024, 1 << 20};
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/httpd_" + RandomHex(4);
    ASSERT_TRUE(MakeDirs(dir_).ok());
    a_.resize(3 << 20);
    for (size_t i = 0; i < a_.size(); ++i) a_[i] = static_cast<char>('a' + i % 23);
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/a", a_).ok());
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/b", "BBBBBBBB").ok());
    c_.resize(200 * 1024);
    for (size_t i = 0; i < c_.size(); ++i) c_[i] = static_cast<char>('0' + i % 71);
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/c", c_).ok());
    full_ = a_ + "MEM" + "BBBBBBBB";
    handler_ = std::make_unique<TestHandler>(dir_);
    StartServer(Options());
  }
  static HttpServerOptions Options() {
    HttpServerOptions o;
    o.listen = {"127.0.0.1:0"};
    o.threads = 2;
    o.header_timeout_ms = 400;
    o.idle_timeout_ms = 800;
    return o;
  }
  void StartServer(const HttpServerOptions& o) {
    if (server_) server_->Stop();
    server_ = std::make_unique<HttpServer>(o, handler_.get());
    Status s = server_->Start();
    if (s.IsUnavailable()) GTEST_SKIP() << s.ToString();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  void TearDown() override {
    if (server_) server_->Stop();
    ASSERT_TRUE(RemoveTree(dir_).ok());
  }
  int Connect() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server_->port(0));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
  }
  static void Send(int fd, const std::string& s) {
    ASSERT_EQ(send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
  }
  // Reads one response: head and Content-Length body.
  static std::string ReadResponse(int fd, std::string* body, std::string* carry) {
    std::string buf = *carry;
    char tmp[65536];
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) return "";
      buf.append(tmp, static_cast<size_t>(n));
    }
    std::string head = buf.substr(0, end + 4);
    buf.erase(0, end + 4);
    size_t len = 0;
    size_t cl = head.find("Content-Length: ");
    if (cl != std::string::npos) len = std::stoul(head.substr(cl + 16));
    bool no_body = head.find(" 304 ") != std::string::npos;
    if (head.rfind("HEAD", 0) == 0) no_body = true;
    while (!no_body && buf.size() < len) {
      ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) break;
      buf.append(tmp, static_cast<size_t>(n));
    }
    if (no_body) len = 0;
    *body = buf.substr(0, len);
    *carry = buf.substr(std::min(len, buf.size()));
    return head;
  }
  std::string Get(const std::string& req, std::string* body) {
    int fd = Connect();
    Send(fd, req);
    std::string carry;
    std::string head = ReadResponse(fd, body, &carry);
    close(fd);
    return head;
  }

  std::string dir_, a_, c_, full_;
  std::unique_ptr<TestHandler> handler_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, KeepAliveGetHeadAndPipelining) {
  int fd = Connect();
  std::string carry, body;
  for (int i = 0; i < 3; ++i) {
    Send(fd, "GET /file HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string head = ReadResponse(fd, &body, &carry);
    ASSERT_NE(head.find("HTTP/1.1 200 OK"), std::string::npos) << head;
    EXPECT_NE(head.find("ETag: \"v1\""), std::string::npos);
    EXPECT_NE(head.find("Accept-Ranges: bytes"), std::string::npos);
    EXPECT_TRUE(body == full_);
  }
  // Three pipelined requests in one write, answered in order.
  Send(fd, "GET /nope HTTP/1.1\r\n\r\nGET /deferred HTTP/1.1\r\n\r\nGET /file HTTP/1.1\r\n\r\n");
  EXPECT_NE(ReadResponse(fd, &body, &carry).find(" 404 "), std::string::npos);
  EXPECT_NE(ReadResponse(fd, &body, &carry).find(" 200 "), std::string::npos);
  EXPECT_EQ(body, "later");
  EXPECT_NE(ReadResponse(fd, &body, &carry).find(" 200 "), std::string::npos);
  EXPECT_EQ(body.size(), full_.size());
  close(fd);
  std::string h = Get("HEAD /file HTTP/1.1\r\n\r\n", &body);
  EXPECT_NE(h.find("Content-Length: " + std::to_string(full_.size())), std::string::npos);
}

TEST_F(HttpServerTest, RangesAndConditionals) {
  std::string body;
  uint64_t n = full_.size();
  std::string h = Get("GET /file HTTP/1.1\r\nRange: bytes=3145725-3145731\r\n\r\n", &body);
  EXPECT_NE(h.find(" 206 "), std::string::npos);
  EXPECT_EQ(body, full_.substr(3145725, 7));  // across file -> memory -> file
  EXPECT_NE(h.find("Content-Range: bytes 3145725-3145731/" + std::to_string(n)), std::string::npos);
  Get("GET /file HTTP/1.1\r\nRange: bytes=-1\r\n\r\n", &body);
  EXPECT_EQ(body, "B");
  Get("GET /file HTTP/1.1\r\nRange: bytes=0-0\r\n\r\n", &body);
  EXPECT_EQ(body, "a");
  h = Get("GET /file HTTP/1.1\r\nRange: bytes=" + std::to_string(n) + "-\r\n\r\n", &body);
  EXPECT_NE(h.find(" 416 "), std::string::npos);
  EXPECT_NE(h.find("Content-Range: bytes */" + std::to_string(n)), std::string::npos);
  h = Get("GET /file HTTP/1.1\r\nIf-None-Match: \"x\", \"v1\"\r\n\r\n", &body);
  EXPECT_NE(h.find(" 304 "), std::string::npos);
  h = Get("GET /file HTTP/1.1\r\nIf-Modified-Since: " + HttpDate(1700000000) + "\r\n\r\n", &body);
  EXPECT_NE(h.find(" 304 "), std::string::npos);
  h = Get("GET /file HTTP/1.1\r\nIf-Modified-Since: " + HttpDate(1600000000) + "\r\n\r\n", &body);
  EXPECT_NE(h.find(" 200 "), std::string::npos);
  // If-Range: the Range applies only while the validator matches (strong ETag or exact date).
  h = Get("GET /file HTTP/1.1\r\nRange: bytes=0-0\r\nIf-Range: \"v1\"\r\n\r\n", &body);
  EXPECT_NE(h.find(" 206 "), std::string::npos);
  h = Get("GET /file HTTP/1.1\r\nRange: bytes=0-0\r\nIf-Range: \"v0\"\r\n\r\n", &body);
  EXPECT_NE(h.find(" 200 "), std::string::npos);
  EXPECT_EQ(body.size(), n);
  h = Get("GET /file HTTP/1.1\r\nRange: bytes=0-0\r\nIf-Range: W/\"v1\"\r\n\r\n", &body);
  EXPECT_NE(h.find(" 200 "), std::string::npos);
  h = Get("GET /file HTTP/1.1\r\nRange: bytes=0-0\r\nIf-Range: " + HttpDate(1700000000) +
              "\r\n\r\n",
          &body);
  EXPECT_NE(h.find(" 206 "), std::string::npos);
  h = Get("GET /file HTTP/1.1\r\nRange: bytes=0-0\r\nIf-Range: " + HttpDate(1700000001) +
              "\r\n\r\n",
          &body);
  EXPECT_NE(h.find(" 200 "), std::string::npos);
}

// Bodies up to copy_body_max go out copied behind the head, larger ones (or any once the loop's
// copy budget is used up) are spliced: the client sees the same bytes either way, ranges across
// file and memory pieces included, and a file shorter than its piece is never sent short.
TEST_F(HttpServerTest, CopiedAndSplicedBodiesAreTheSame) {
  const uint64_t n = full_.size();
  struct Mode {
    const char* name;
    size_t copy_max, budget;
  };
  for (Mode m :
       {Mode{"default", 256 * 1024, 32u << 20}, Mode{"always splice", 0, 32u << 20},
        Mode{"tiny budget", 256 * 1024, 16}, Mode{"copy everything", 16u << 20, 64u << 20}}) {
    SCOPED_TRACE(m.name);
    HttpServerOptions o = Options();
    o.copy_body_max = m.copy_max;
    o.copy_budget_per_loop = m.budget;
    StartServer(o);
    std::string body;
    Get("GET /file HTTP/1.1\r\nRange: bytes=3145725-3145731\r\n\r\n", &body);
    EXPECT_EQ(body, full_.substr(3145725, 7));  // file -> memory -> file, 7 bytes
    Get("GET /file HTTP/1.1\r\nRange: bytes=3000000-3145730\r\n\r\n", &body);
    EXPECT_TRUE(body == full_.substr(3000000, 145731));  // 142 KiB: copied by default
    Get("GET /file HTTP/1.1\r\nRange: bytes=-1\r\n\r\n", &body);
    EXPECT_EQ(body, "B");
    // Pipelined small and large responses on one connection, in order.
    int fd = Connect();
    Send(fd,
         "GET /file HTTP/1.1\r\nRange: bytes=0-99\r\n\r\nGET /file HTTP/1.1\r\n\r\n"
         "GET /file HTTP/1.1\r\nRange: bytes=" +
             std::to_string(n - 11) +
             "-\r\n\r\n"
             "HEAD /file HTTP/1.1\r\n\r\n");
    std::string carry;
    EXPECT_NE(ReadResponse(fd, &body, &carry).find(" 206 "), std::string::npos);
    EXPECT_EQ(body, full_.substr(0, 100));
    EXPECT_NE(ReadResponse(fd, &body, &carry).find(" 200 "), std::string::npos);
    EXPECT_TRUE(body == full_);
    ReadResponse(fd, &body, &carry);
    EXPECT_EQ(body, "MEMBBBBBBBB");
    std::string head = ReadResponse(fd, &body, &carry);
    EXPECT_NE(head.find("Content-Length: " + std::to_string(n)), std::string::npos) << head;
    EXPECT_TRUE(body.empty());
    close(fd);
    // Short file: the head promises 16 bytes, the connection closes before 16 arrive.
    fd = Connect();
    Send(fd, "GET /short HTTP/1.1\r\n\r\n");
    std::string got;
    char buf[4096];
    for (ssize_t r; (r = recv(fd, buf, sizeof(buf), 0)) > 0;)
      got.append(buf, static_cast<size_t>(r));
    close(fd);
    size_t hend = got.find("\r\n\r\n");
    if (hend != std::string::npos) {
      EXPECT_NE(got.find("Content-Length: 16"), std::string::npos);
      EXPECT_LT(got.size() - hend - 4, 16u) << "a short body was sent as complete";
    }
    // The server goes on serving.
    EXPECT_NE(Get("GET /file HTTP/1.1\r\nRange: bytes=0-0\r\n\r\n", &body).find(" 206 "),
              std::string::npos);
    EXPECT_EQ(body, "a");
  }
}

// A client that reads slowly fills its socket: the sender waits for POLLOUT (sendfile gets
// EAGAIN on the non-blocking socket), resumes, and the client gets every byte; other clients
// are served meanwhile on the same loops.
TEST_F(HttpServerTest, SlowReaderGetsTheWholeBodyWithoutBlockingOthers) {
  for (bool sendfile : {true, false}) {
    SCOPED_TRACE(sendfile ? "sendfile" : "splice");
    HttpServerOptions o = Options();
    o.inline_sendfile = sendfile;
    o.idle_timeout_ms = 5000;
    StartServer(o);
    int slow = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 4096;
    setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server_->port(0));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(slow, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    Send(slow, "GET /file HTTP/1.1\r\n\r\n");
    std::string got;
    char buf[4096];
    for (int i = 0; i < 20; ++i) {  // a trickle for a while: the server's sends back up
      ssize_t n = recv(slow, buf, sizeof(buf), 0);
      ASSERT_GT(n, 0);
      got.append(buf, static_cast<size_t>(n));
      usleep(5000);
      if (i == 10) {
        std::string body;
        for (int k = 0; k < 4; ++k) {  // both loops keep serving others
          EXPECT_NE(Get("GET /file HTTP/1.1\r\n\r\n", &body).find(" 200 "), std::string::npos);
          EXPECT_EQ(body.size(), full_.size());
        }
      }
    }
    timeval tv{5, 0};
    setsockopt(slow, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    size_t hend;
    while ((hend = got.find("\r\n\r\n")) == std::string::npos ||
           got.size() < hend + 4 + full_.size()) {
      ssize_t n = recv(slow, buf, sizeof(buf), 0);
      ASSERT_GT(n, 0) << "got " << got.size() << " bytes";
      got.append(buf, static_cast<size_t>(n));
    }
    EXPECT_TRUE(got.substr(hend + 4) == full_);
    // A small body sent from memory in one gathered send, to the same slow socket: partial
    // sends and POLLOUT waits there too. Twice: read from the file, then from memory.
    for (int round = 0; round < 2; ++round) {
      Send(slow, "GET /small HTTP/1.1\r\n\r\n");
      std::string carry, body;
      usleep(20000);
      std::string head = ReadResponse(slow, &body, &carry);
      EXPECT_NE(head.find(" 200 "), std::string::npos);
      EXPECT_TRUE(body == "head-" + c_) << body.size();
    }
    close(slow);
  }
}

TEST_F(HttpServerTest, LimitsAndBadRequests) {
  std::string body;
  EXPECT_NE(Get("GET / HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n", &body).find(" 431 "),
            std::string::npos);
  EXPECT_NE(Get("GET /" + std::string(5000, 'a') + " HTTP/1.1\r\n\r\n", &body).find(" 414 "),
            std::string::npos);
  std::string h = Get("POST /file HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &body);
  EXPECT_NE(h.find(" 405 "), std::string::npos);
  EXPECT_NE(h.find("Allow: GET, HEAD"), std::string::npos);
  EXPECT_NE(Get("BREW /pot HTTP/1.1\r\n\r\n", &body).find(" 501 "), std::string::npos);
  EXPECT_NE(Get("GET /file HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", &body).find(" 413 "),
            std::string::npos);
  EXPECT_NE(Get("garbage\r\n\r\n", &body).find(" 400 "), std::string::npos);
  EXPECT_NE(Get("GET //file HTTP/1.1\r\n\r\n", &body).find(" 200 "), std::string::npos);
}

TEST_F(HttpServerTest, TimeoutsHalfCloseAndAbruptDisconnects) {
  // Slowloris: a head that never completes is cut after the header timeout (400 ms), which is
  // earlier than the idle deadline (800 ms) the connection started with.
  auto ms_since = [](std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 t0)
        .count();
  };
  int slow = Connect();
  auto t0 = std::chrono::steady_clock::now();
  Send(slow, "GET /file HTTP/1.1\r\nX-Slow: ");
  char c;
  EXPECT_EQ(recv(slow, &c, 1, 0), 0);  // closed by the server
  EXPECT_GE(ms_since(t0), 390);
  EXPECT_LT(ms_since(t0), 795) << "the header deadline, not the idle one (800 ms)";
  close(slow);
  // Idle keep-alive connections are closed too, after the idle timeout.
  int idle = Connect();
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(recv(idle, &c, 1, 0), 0);
  EXPECT_GE(ms_since(t0), 790);
  EXPECT_LT(ms_since(t0), 2000);
  close(idle);
  // Half-close after the request: the response still arrives.
  int half = Connect();
  Send(half, "GET /file HTTP/1.1\r\n\r\n");
  shutdown(half, SHUT_WR);
  std::string body, carry;
  EXPECT_NE(ReadResponse(half, &body, &carry).find(" 200 "), std::string::npos);
  EXPECT_EQ(body.size(), full_.size());
  close(half);
  // Many clients that leave in the middle of a body.
  for (int i = 0; i < 50; ++i) {
    int fd = Connect();
    Send(fd, "GET /file HTTP/1.1\r\n\r\n");
    char buf[1000];
    recv(fd, buf, sizeof(buf), 0);
    linger lg{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));  // RST
    close(fd);
  }
  for (int i = 0; i < 100 && server_->Metrics().active_connections > 0; ++i) usleep(20000);
  EXPECT_EQ(server_->Metrics().active_connections, 0u);
  std::string h = Get("GET /file HTTP/1.1\r\n\r\n", &body);  // still serving
  EXPECT_NE(h.find(" 200 "), std::string::npos);
}

TEST_F(HttpServerTest, ManyConcurrentConnections) {
  rlimit lim{};  // 1000 connections need 2000+ fds in this one process
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < 2300) GTEST_SKIP() << "open-file limit too low: " << lim.rlim_cur;
  std::vector<int> fds;
  for (int i = 0; i < 1000; ++i) fds.push_back(Connect());
  for (int fd : fds) Send(fd, "GET /nope HTTP/1.1\r\n\r\n");
  int ok = 0;
  for (int fd : fds) {
    std::string body, carry;
    if (ReadResponse(fd, &body, &carry).find(" 404 ") != std::string::npos) ++ok;
    close(fd);
  }
  EXPECT_EQ(ok, 1000);
}

// Memory cost of idle connections: user-space RSS growth of the whole process (server and the
// test's client fds) per accepted, idle connection. Kernel socket memory is not in RSS.
long RssKb() {
  Result<std::string> r = ReadFileToString("/proc/self/status");
  if (!r.ok()) return -1;
  const std::string& status = *r;
  size_t p = status.find("VmRSS:");
  return p == std::string::npos ? -1 : std::stol(status.substr(p + 6));
}

TEST(HttpServerMemoryTest, IdleConnectionsCostFewKilobytes) {
  TestHandler handler("/nonexistent");
  HttpServerOptions o;
  o.listen = {"127.0.0.1:0"};
  o.threads = 2;
  HttpServer server(o, &handler);
  Status s = server.Start();
  if (s.IsUnavailable()) GTEST_SKIP() << s.ToString();
  ASSERT_TRUE(s.ok()) << s.ToString();
  // Client and server fds must both fit RLIMIT_NOFILE: raise the soft limit, scale to the hard one.
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  const int kConns = static_cast<int>(std::min<rlim_t>(8000, (lim.rlim_cur - 200) / 2));
  if (kConns < 1000) GTEST_SKIP() << "open-file limit too low: " << lim.rlim_cur;
  std::vector<int> fds;
  fds.reserve(kConns);
  long before = RssKb();
  for (int i = 0; i < kConns; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server.port(0));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << i;
    fds.push_back(fd);
  }
  for (int i = 0; i < 600 && server.Metrics().active_connections < static_cast<uint64_t>(kConns); ++i) {
    usleep(50000);
  }
  ASSERT_EQ(server.Metrics().active_connections, static_cast<uint64_t>(kConns));
  long after = RssKb();
  double per_conn_kb = static_cast<double>(after - before) / kConns;
  printf("idle connections: %d, RSS %ld kB -> %ld kB, %.2f kB per connection\n", kConns, before,
         after, per_conn_kb);
  RecordProperty("rss_kb_per_idle_connection", std::to_string(per_conn_kb));
  EXPECT_LT(per_conn_kb, 16.0);
  for (int fd : fds) close(fd);
  for (int i = 0; i < 600 && server.Metrics().active_connections > 0; ++i) usleep(50000);
  EXPECT_EQ(server.Metrics().active_connections, 0u);
  server.Stop();
}

}  // namespace
}  // namespace sw
