#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "agent/http_client.h"
#include "agent/overlay_apply.h"
#include "agent/runtime_client.h"
#include "chunkstore/codec.h"
#include "common/fs_util.h"
#include "common/hex.h"
#include "gtest/gtest.h"

namespace sw {
namespace {

std::string TempDir() {
  std::string d = ::testing::TempDir() + "/agent_" + RandomHex(6);
  CHECK(MakeDirs(d).ok());
  return d;
}

std::string Slurp(const std::string& p) {
  auto r = ReadFileToString(p);
  return r.ok() ? *r : "<missing>";
}

bool Exists(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0;
}

OverlayEntry File(std::string path, std::string data, uint32_t perm = 0644) {
  return OverlayEntry{std::move(path), S_IFREG | perm, getuid(), getgid(), 1700000000,
                      std::move(data)};
}
OverlayEntry Dir(std::string path) {
  return OverlayEntry{std::move(path), S_IFDIR | 0755, getuid(), getgid(), 1700000000, ""};
}
OverlayEntry Link(std::string path, std::string target) {
  return OverlayEntry{std::move(path), S_IFLNK | 0777, getuid(), getgid(), 1700000000,
                      std::move(target)};
}

ApplyOptions Opts(const std::string& root) {
  ApplyOptions o;
  o.root = root;
  o.set_owner = geteuid() == 0;
  return o;
}

TEST(OverlayApplyTest, AddModifyDeleteAndNeverTouchForeignFiles) {
  std::string root = TempDir();
  ASSERT_TRUE(MakeDirs(root + "/etc").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/etc/foreign", "not ours").ok());
  ApplyReport rep;
  std::vector<OverlayEntry> v1 = {Dir("etc"), File("etc/hosts", "v1 hosts\n"),
                                  File("etc/motd", "hello\n", 0600), Dir("opt/tool"),
                                  File("opt/tool/conf", "x"), Link("etc/link", "hosts")};
  ASSERT_TRUE(ApplyOverlay(v1, Opts(root), &rep).ok());
  EXPECT_EQ(rep.written, 4u);
  EXPECT_EQ(Slurp(root + "/etc/hosts"), "v1 hosts\n");
  struct stat st;
  ASSERT_EQ(stat((root + "/etc/motd").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_mtime, 1700000000);
  char buf[64] = {};
  ASSERT_GT(readlink((root + "/etc/link").c_str(), buf, sizeof(buf)), 0);
  EXPECT_STREQ(buf, "hosts");

  // Same overlay again: nothing written.
  ASSERT_TRUE(ApplyOverlay(v1, Opts(root), &rep).ok());
  EXPECT_EQ(rep.written, 0u);
  EXPECT_EQ(rep.unchanged, 4u);

  // v2: hosts changed, motd and the opt/tool tree gone, new file added.
  std::vector<OverlayEntry> v2 = {Dir("etc"), File("etc/hosts", "v2 hosts\n"),
                                  File("etc/new", "new\n"), Link("etc/link", "new")};
  ASSERT_TRUE(ApplyOverlay(v2, Opts(root), &rep).ok());
  EXPECT_EQ(Slurp(root + "/etc/hosts"), "v2 hosts\n");
  EXPECT_EQ(Slurp(root + "/etc/new"), "new\n");
  EXPECT_FALSE(Exists(root + "/etc/motd"));
  EXPECT_FALSE(Exists(root + "/opt/tool/conf"));
  EXPECT_FALSE(Exists(root + "/opt/tool"));  // we created it, it is empty: removed
  EXPECT_FALSE(Exists(root + "/opt"));
  EXPECT_TRUE(Exists(root + "/etc"));  // existed before: never ours
  EXPECT_EQ(Slurp(root + "/etc/foreign"), "not ours");
  // No temp files left behind.
  auto names = ListDir(root + "/etc");
  ASSERT_TRUE(names.ok());
  for (const auto& n : *names) EXPECT_EQ(n.find(".wwclient-tmp"), std::string::npos) << n;
  ASSERT_TRUE(RemoveTree(root).ok());
}

TEST(OverlayApplyTest, RejectsBadEntriesBeforeTouchingAnything) {
  std::string root = TempDir();
  ApplyReport rep;
  for (const std::string bad : {"../escape", "/abs", "a//b", "a/./b", "a/"}) {
    std::vector<OverlayEntry> v = {File("good", "x"), File(bad, "y")};
    Status s = ApplyOverlay(v, Opts(root), &rep);
    EXPECT_TRUE(s.IsInvalidArgument()) << bad << " " << s.ToString();
    EXPECT_FALSE(Exists(root + "/good")) << bad;
  }
  ASSERT_TRUE(RemoveTree(root).ok());
}

// Crash injection: a child process applies v2 and dies (_exit) at step k; the parent then checks
// that every file is old or new, and that the next apply finishes the job exactly.
TEST(OverlayApplyTest, CrashAtEveryStepThenRecovery) {
  std::vector<OverlayEntry> v1 = {File("a", "A1"), File("b", "B1"), Dir("d"), File("d/c", "C1")};
  std::vector<OverlayEntry> v2 = {File("a", "A2"), File("e", "E2"), Dir("f"), File("f/g", "G2")};
  for (int k = 0; k < 12; ++k) {
    std::string root = TempDir();
    ApplyReport rep;
    ASSERT_TRUE(ApplyOverlay(v1, Opts(root), &rep).ok());
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int step = 0;
      ApplyOptions o = Opts(root);
      o.before_step = [&](std::string_view) -> Status {
        if (step++ == k) _exit(0);  // "crash"
        return Status::OK();
      };
      ApplyReport r;
      (void)ApplyOverlay(v2, o, &r);
      _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    std::string a = Slurp(root + "/a");
    EXPECT_TRUE(a == "A1" || a == "A2") << k << ": " << a;
    ASSERT_TRUE(ApplyOverlay(v2, Opts(root), &rep).ok()) << k;
    EXPECT_EQ(Slurp(root + "/a"), "A2");
    EXPECT_EQ(Slurp(root + "/e"), "E2");
    EXPECT_EQ(Slurp(root + "/f/g"), "G2");
    EXPECT_FALSE(Exists(root + "/b")) << k;
    EXPECT_FALSE(Exists(root + "/d/c")) << k;
    EXPECT_FALSE(Exists(root + "/d")) << k;
    ASSERT_TRUE(RemoveTree(root).ok());
  }
}

// Minimal newc writer for tests (the production writer lives in chunkstore/).
std::string NewcEntry(const std::string& name, uint32_t mode, const std::string& data) {
  char hdr[111];
  snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", 1u,
           mode, 0u, 0u, 1u, 1700000000u, static_cast<unsigned>(data.size()), 0u, 0u, 0u, 0u,
           static_cast<unsigned>(name.size() + 1), 0u);
  std::string out(hdr, 110);
  out += name;
  out += '\0';
  while (out.size() % 4) out += '\0';
  out += data;
  while (out.size() % 4) out += '\0';
  return out;
}

std::string Archive(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string a;
  for (const auto& [n, d] : files) a += NewcEntry(n, S_IFREG | 0644, d);
  a += NewcEntry("TRAILER!!!", 0, "");
  return a;
}

TEST(NewcStreamTest, ParsesConcatenatedArchives) {
  std::string raw = Archive({{"etc/a", "1"}, {"etc/b", "22"}}) + Archive({{"etc/c", "333"}});
  auto r = ParseNewcStream(raw);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[2].path, "etc/c");
  EXPECT_EQ((*r)[2].data, "333");
  EXPECT_TRUE(ParseNewcStream(raw.substr(0, raw.size() - 200)).status().IsCorruption());
  EXPECT_TRUE(ParseNewcStream("garbage that is long enough to hold a header of one hundred and ten "
                              "bytes, or so we hope, yes indeed it is now")
                  .status()
                  .IsCorruption());
}

TEST(DecodeBodyTest, ZstdFramesAndGzipMembers) {
  std::string a = "first segment ", b = "second segment";
  auto z = [](const std::string& s) {
    return ZstdCompress(ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size()), 3);
  };
  auto r = DecodeBody(z(a) + z(b), "zstd");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, a + b);
  EXPECT_TRUE(DecodeBody(z(a).substr(0, 10), "zstd").status().IsCorruption());
  EXPECT_EQ(*DecodeBody("plain", ""), "plain");
}

TEST(IdentityTest, CmdlineAndInterfaceForm) {
  std::string d = TempDir();
  ASSERT_TRUE(MakeDirs(d + "/sys/class/net/eth0").ok());
  ASSERT_TRUE(MakeDirs(d + "/sys/class/dmi/id").ok());
  ASSERT_TRUE(WriteFileAtomic(d + "/sys/class/net/eth0/address", "52:54:00:aa:bb:cc\n").ok());
  ASSERT_TRUE(WriteFileAtomic(d + "/sys/class/dmi/id/chassis_asset_tag", "Rack 7 Slot 3\n").ok());
  ASSERT_TRUE(WriteFileAtomic(d + "/cmdline", "quiet wwid=[eth0] console=ttyS0\n").ok());
  auto id = ReadIdentity(d + "/cmdline", d + "/sys");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->wwid, "52:54:00:aa:bb:cc");
  EXPECT_EQ(id->assetkey, "Rack_7_Slot_3");
  ASSERT_TRUE(WriteFileAtomic(d + "/cmdline", "quiet wwid=n0001\n").ok());
  EXPECT_EQ(ReadIdentity(d + "/cmdline", d + "/sys")->wwid, "n0001");
  ASSERT_TRUE(WriteFileAtomic(d + "/cmdline", "quiet\n").ok());
  EXPECT_TRUE(ReadIdentity(d + "/cmdline", d + "/sys").status().IsNotFound());
  ASSERT_TRUE(RemoveTree(d).ok());
}

// A tiny scripted HTTP server on 127.0.0.1: each accepted request gets the next canned response
// from `respond(request_head)`.
class CannedServer {
 public:
  explicit CannedServer(std::function<std::string(const std::string&)> respond)
      : respond_(std::move(respond)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    CHECK(listen(fd_, 16) == 0);
    thread_ = std::thread([this] { Run(); });
  }
  ~CannedServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::vector<std::string> requests;

 private:
  void Run() {
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string buf;
      char tmp[4096];
      for (;;) {
        size_t end = buf.find("\r\n\r\n");
        if (end != std::string::npos) {
          std::string head = buf.substr(0, end + 4);
          buf.erase(0, end + 4);
          requests.push_back(head);
          std::string resp = respond_(head);
          if (send(c, resp.data(), resp.size(), MSG_NOSIGNAL) < 0) break;
          continue;
        }
        ssize_t n = recv(c, tmp, sizeof(tmp), 0);
        if (n <= 0) break;
        buf.append(tmp, static_cast<size_t>(n));
      }
      close(c);
    }
  }
  std::function<std::string(const std::string&)> respond_;
  int fd_;
  uint16_t port_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string Response(int code, const std::string& body, const std::string& etag) {
  std::string r = "HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n";
  if (!etag.empty()) r += "ETag: " + etag + "\r\n";
  return r + "\r\n" + body;
}

TEST(RuntimeClientTest, ConditionalRefreshAppliesOnlyChanges) {
  std::string raw = Archive({{"etc/hosts", "10.0.0.1 head\n"}});
  auto sha = Sha256Of(ByteSpan(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()));
  std::string etag = "\"" + HexEncode(sha.data(), 16) + "-none\"";
  CannedServer srv([&](const std::string& head) {
    if (head.find("If-None-Match: " + etag) != std::string::npos) return Response(304, "", etag);
    return Response(200, raw, etag);
  });
  std::string root = TempDir();
  HttpClient http(*HttpUrl::Parse("http://127.0.0.1:" + std::to_string(srv.port())), {});
  RuntimeClientOptions o;
  o.compress = "";
  o.apply = Opts(root);
  RuntimeClient client(&http, NodeIdentity{"aa:bb", "u-1", "tag 1"}, o);
  CycleResult r;
  ASSERT_TRUE(client.RunCycle(&r).ok());
  EXPECT_EQ(r.outcome, CycleOutcome::kApplied);
  EXPECT_EQ(Slurp(root + "/etc/hosts"), "10.0.0.1 head\n");
  ASSERT_TRUE(client.RunCycle(&r).ok());
  EXPECT_EQ(r.outcome, CycleOutcome::kNotModified);
  ASSERT_EQ(srv.requests.size(), 2u);
  EXPECT_NE(srv.requests[0].find("GET /runtime/aa:bb?assetkey=tag%201&uuid=u-1 HTTP/1.1"),
            std::string::npos)
      << srv.requests[0];
  ASSERT_TRUE(RemoveTree(root).ok());
}

TEST(RuntimeClientTest, DigestMismatchIsNotApplied) {
  std::string raw = Archive({{"etc/hosts", "tampered\n"}});
  CannedServer srv([&](const std::string&) {
    return Response(200, raw, "\"00000000000000000000000000000000-none\"");
  });
  std::string root = TempDir();
  HttpClient http(*HttpUrl::Parse("http://127.0.0.1:" + std::to_string(srv.port())), {});
  RuntimeClientOptions o;
  o.compress = "";
  o.apply = Opts(root);
  RuntimeClient client(&http, NodeIdentity{"n1", "", ""}, o);
  CycleResult r;
  EXPECT_TRUE(client.RunCycle(&r).IsCorruption());
  EXPECT_FALSE(Exists(root + "/etc/hosts"));
  ASSERT_TRUE(RemoveTree(root).ok());
}

TEST(RuntimeClientTest, WarewulfServerWithoutEtagAndRefusals) {
  std::string raw = Archive({{"etc/x", "1"}});
  int calls = 0;
  CannedServer srv([&](const std::string&) {
    ++calls;
    if (calls == 3) return Response(401, "", "");
    if (calls == 4) return std::string("HTTP/1.1 503 X\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n");
    return Response(200, raw, "");
  });
  std::string root = TempDir();
  HttpClient http(*HttpUrl::Parse("http://127.0.0.1:" + std::to_string(srv.port())), {});
  RuntimeClientOptions o;
  o.compress = "";
  o.apply = Opts(root);
  RuntimeClient client(&http, NodeIdentity{"n1", "", ""}, o);
  CycleResult r;
  ASSERT_TRUE(client.RunCycle(&r).ok());
  EXPECT_EQ(r.outcome, CycleOutcome::kApplied);
  ASSERT_TRUE(client.RunCycle(&r).ok());
  EXPECT_EQ(r.outcome, CycleOutcome::kUnchanged);  // same digest: not re-applied
  EXPECT_TRUE(client.RunCycle(&r).IsInvalidArgument());
  Status s = client.RunCycle(&r);
  EXPECT_TRUE(s.IsUnavailable());
  EXPECT_EQ(r.retry_after_seconds, 7);
  ASSERT_TRUE(RemoveTree(root).ok());
}

TEST(HttpUrlTest, Parse) {
  auto u = HttpUrl::Parse("http://127.0.0.1:9873/prefix/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 9873);
  EXPECT_EQ(u->base_path, "/prefix");
  EXPECT_EQ(HttpUrl::Parse("http://[::1]:80")->host, "::1");
  auto t = HttpUrl::Parse("https://head");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->tls);
  EXPECT_EQ(t->port, 443);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(HttpUrl::Parse("https://head:9874")->port, 9874);
  EXPECT_FALSE(HttpUrl::Parse("ftp://x").ok());
  EXPECT_FALSE(HttpUrl::Parse("http://x:99999").ok());
}

}  // namespace
}  // namespace sw
