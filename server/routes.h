// server/routes.h: Warewulf 4.7's provisioning protocol (shared/reference/warewulf.md §1, §9) on
// top of the chunk store; docs/server.md has the route table with status codes.
//
// Routes is the HttpHandler of stormwulfd. Node identity: MAC in the path (any case, '-' or ':'),
// else ?wwid=, else the ARP entry of the peer address; a node id works as a wwid too. Stages:
// ipxe, kernel, image, system, runtime (plus the legacy /provision/<id>?stage=, /container/,
// /overlay-system/, /overlay-runtime/ families). Representations of images and overlays:
// compress=zstd sends the stored zstd frames back to back, compress=gz one gzip member per
// segment, no compress the raw newc stream; each has its own strong ETag built from the
// artifact's SHA-256, so 304s and Range work through the engine. Errors have empty bodies.
// Content-addressed routes /manifests/<id> and /chunks/<id> are immutable and cacheable.
// Thread-safety: Handle may run on every loop thread at once; Reload from any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "chunkstore/store.h"
#include "cluster/nodedb.h"
#include "server/artifacts.h"
#include "server/config.h"
#include "server/http_server.h"
#include "tmpl/template.h"

namespace sw {

// One node's line of /status. The strings are guarded by Routes' status lock; bytes_sent is
// atomic so that a response's completion adds to it without that lock.
struct NodeStatus {
  std::string stage;
  std::string sent;
  std::string ipaddr;
  int64_t last_seen = 0;
  std::atomic<uint64_t> bytes_sent{0};  // response bytes written to this node (since start)
};

// Per-node state that every request of a node touches, kept beside the node database and found
// by the node's index in it, so the hot path does no second lookup by name.
struct NodeSlot {
  std::shared_ptr<NodeStatus> status = std::make_shared<NodeStatus>();  // kept across reloads
  ArtifactMemo system, runtime;  // the node's overlays (dropped at reload)
};

class Routes : public HttpHandler {
 public:
  Routes(ServerConfig cfg, Store* store);
  // Re-reads nodes.conf and forgets cached refs and templates. On error the previous node
  // database stays in use and the error is returned (the caller logs it).
  Status Reload();
  void SetEngine(const HttpServer* engine) { engine_ = engine; }
  void Handle(const HttpRequest& req, std::shared_ptr<ResponseWriter> writer) override;

  std::string StatusJson() const;
  std::string MetricsText() const;
  uint64_t derived_builds() const { return derived_.builds(); }
  std::shared_ptr<const NodeDb> nodes() const;

 private:
  void Reply(const std::shared_ptr<ResponseWriter>& w, HttpResponse r, const std::string& route);
  // The node database and one NodeSlot per node, in the database's order.
  struct NodeTable {
    std::shared_ptr<const NodeDb> db;
    std::unique_ptr<NodeSlot[]> slots;
    NodeSlot* SlotOf(const Node* n) const { return &slots[n - db->nodes().data()]; }
  };
  std::shared_ptr<const NodeTable> table() const;
  void ServeArtifact(const std::shared_ptr<const OpenArtifact>& art, const std::string& compress,
                     const std::string& route, const std::shared_ptr<NodeStatus>& status,
                     const HttpRequest& req, const std::shared_ptr<ResponseWriter>& w);
  void ServeIpxe(const HttpRequest& req, const Node* node, NodeSlot* slot,
                 const std::string& hwaddr, const std::shared_ptr<ResponseWriter>& w);
  // The kernel a node boots: the imported kernel its `kernel: version:` names (refs/kernels/<name>;
  // *imported = true), else its image's own kernel, which a `kernel: version:` that names no
  // imported kernel must match as a version prefix (Warewulf's pin) or as a path ending in
  // "-<version>". NotFound with the reason otherwise.
  Result<std::shared_ptr<const OpenArtifact>> NodeKernel(const Node& node, bool* imported);
  Result<std::shared_ptr<const tmpl::Template>> LoadTemplate(const std::string& name);
  std::string ArpLookup(const std::string& ip) const;
  // Records a request of a node in its /status entry; returns the entry.
  const std::shared_ptr<NodeStatus>& Seen(const std::shared_ptr<NodeStatus>& status,
                                          std::string_view stage, std::string_view sent,
                                          const std::string& ip);
  // Makes r add the bytes it sends to the node's bytes_sent when it completes.
  static void CountBytes(std::shared_ptr<NodeStatus> status, HttpResponse* r);

  ServerConfig cfg_;
  Store* store_;
  const HttpServer* engine_ = nullptr;
  FileCache files_;  // before arts_ and derived_, which use it
  ArtifactCache arts_;
  DerivedCache derived_;
  std::shared_ptr<const tmpl::FuncMap> funcs_;
  mutable std::mutex mu_;
  std::shared_ptr<const NodeTable> table_;  // GUARDED_BY(mu_)
  std::map<std::string, std::pair<int64_t, std::shared_ptr<const tmpl::Template>>>
      templates_;                                 // GUARDED_BY(mu_): path -> (mtime, parsed)
  // Every request updates these: their own locks, not mu_ (the node database's), so the loop
  // threads contend less. status_mu_ guards the strings of every NodeStatus.
  mutable std::mutex status_mu_;
  mutable std::mutex counts_mu_;
  std::map<std::pair<std::string, int>, uint64_t> route_counts_;  // GUARDED_BY(counts_mu_)
};

}  // namespace sw
