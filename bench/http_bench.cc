// bench/http_bench.cc: micro-benchmarks of the HTTP engine's per-request CPU work: parsing a
// request head in place (iPXE's exact request, a curl request), and the pieces of a response head
// (IMF-fixdate formatting, Range interpretation), and the routes' work per request on a real store
// (route lookup, node identity, ref resolution and response set-up: the runtime-overlay refresh
// that ends in a 304, an image's segment list, an iPXE script). Ratios against the iPXE parse
// (the anchor, measured in the same run) are what to compare across machines.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chunkstore/image_build.h"
#include "common/fs_util.h"
#include "server/http_parser.h"
#include "server/http_server.h"
#include "server/http_types.h"
#include "server/routes.h"

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

// A store with one image (about 2 MB in ~8 segments) and one node's overlays, a nodes.conf and
// Routes over them, as stormwulfd has them after start-up. Built once, removed at exit.
class RouteFixture {
 public:
  static RouteFixture& Get() {
    static RouteFixture f;  // destroyed at exit: the temp store goes with it
    return f;
  }
  sw::Routes* routes() { return routes_.get(); }
  ~RouteFixture() { (void)sw::RemoveTree(dir_); }

 private:
  RouteFixture() {
    char tmpl[] = "/tmp/sw-routebench.XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto store = sw::Store::Open(dir_ + "/store", sw::StoreOptions{.create = true});
    if (!store.ok()) abort();
    store_ = std::move(store).value();
    auto tree = [](int files, size_t size, const std::string& prefix) {
      std::vector<sw::TreeEntry> t;
      for (int i = 0; i < files; ++i) {
        sw::TreeEntry e;
        e.path = prefix + "/f" + std::to_string(i);
        e.mode = S_IFREG | 0644;
        std::string body;
        while (body.size() < size) body += "line " + std::to_string(body.size() * 7 + i) + "\n";
        e.size = body.size();
        e.content = std::make_shared<const std::string>(std::move(body));
        t.push_back(std::move(e));
      }
      return t;
    };
    auto put = [&](const std::string& ref, std::vector<sw::TreeEntry> t, sw::ArtifactKind kind) {
      sw::ImageBuildOptions o;
      o.kind = kind;
      auto r = sw::BuildArtifact(store_.get(), std::move(t), o);
      if (!r.ok() || !store_->SetRef(ref, r->manifest_id).ok()) abort();
    };
    put("images/img", tree(256, 8192, "usr/share/doc"), sw::ArtifactKind::kImage);
    put("overlays/n1/system", tree(8, 200, "etc"), sw::ArtifactKind::kOverlay);
    put("overlays/n1/runtime", tree(4, 600, "etc"), sw::ArtifactKind::kOverlay);
    if (!sw::WriteFileAtomic(dir_ + "/nodes.conf",
                             "nodes:\n  n1:\n    image name: img\n    network devices:\n"
                             "      default: {hwaddr: \"52:54:00:12:34:56\", ipaddr: 10.0.0.5}\n")
             .ok()) {
      abort();
    }
    sw::ServerConfig cfg;
    cfg.store = dir_ + "/store";
    cfg.nodes = dir_ + "/nodes.conf";
    cfg.ipxe_dir = SW_SOURCE_DIR "/ipxe-scripts";
    cfg.arp_file = "/dev/null";
    routes_ = std::make_unique<sw::Routes>(cfg, store_.get());
    if (!routes_->Reload().ok()) abort();
  }

  std::string dir_;
  std::unique_ptr<sw::Store> store_;
  std::unique_ptr<sw::Routes> routes_;
};

class CaptureWriter : public sw::ResponseWriter {
 public:
  void Respond(sw::HttpResponse r) override {
    status = r.status;
    pieces = r.body.size();
  }
  int status = 0;
  size_t pieces = 0;
};

// Routes::Handle for one request head (parsed once, outside the loop), from 127.0.0.1.
void Route(benchmark::State& state, std::string_view head, int want_status) {
  std::string buf(head);
  sw::HttpHeaderView headers[64];
  sw::HttpRequest req;
  if (sw::ParseRequestHead(buf.data(), buf.size(), &req, headers, 64) <= 0) {
    state.SkipWithError("bad request head");
    return;
  }
  // The engine splits the target (http_server.cc); do the same.
  const std::string_view target = req.target;
  const size_t q = target.find('?');
  req.path = target.substr(0, q);
  req.query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  auto* sin = reinterpret_cast<sockaddr_in*>(&req.peer);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  req.peer_port = 40000;
  sw::Routes* routes = RouteFixture::Get().routes();
  auto writer = std::make_shared<CaptureWriter>();
  for (auto _ : state) {
    routes->Handle(req, writer);
    benchmark::DoNotOptimize(writer->pieces);
  }
  if (writer->status != want_status) {
    state.SkipWithError(("status " + std::to_string(writer->status)).c_str());
  }
  state.counters["body_pieces"] = static_cast<double>(writer->pieces);
}

// wwclient's refresh: the handler's share of a 304 (the engine compares the ETag afterwards).
void BM_RouteRuntimeRefresh(benchmark::State& state) {
  Route(state,
        "GET /runtime/n1?compress=zstd HTTP/1.1\r\nHost: 10.0.0.1:9873\r\n"
        "If-None-Match: \"0123456789abcdef0123456789abcdef-zst\"\r\n\r\n",
        200);
}
BENCHMARK(BM_RouteRuntimeRefresh);

// An image's send set-up: one body piece per stored segment file.
void BM_RouteImageSendSetup(benchmark::State& state) {
  Route(state, "GET /image/52-54-00-12-34-56?compress=zstd HTTP/1.1\r\nHost: h\r\n\r\n", 200);
}
BENCHMARK(BM_RouteImageSendSetup);

// The iPXE script: template rendered per request.
void BM_RouteIpxeScript(benchmark::State& state) {
  Route(state, "GET /ipxe/52:54:00:12:34:56 HTTP/1.1\r\nHost: h\r\n\r\n", 200);
}
BENCHMARK(BM_RouteIpxeScript);

// A node nobody configured: the sleep-and-reboot script.
void BM_RouteUnknownNode(benchmark::State& state) {
  Route(state, "GET /ipxe/02:00:00:00:00:99 HTTP/1.1\r\nHost: h\r\n\r\n", 200);
}
BENCHMARK(BM_RouteUnknownNode);

}  // namespace

BENCHMARK_MAIN();
