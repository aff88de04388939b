#include "server/routes.h"

#include <malloc.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <vector>

#include "chunkstore/image_build.h"
#include "cluster/template_data.h"
#include "common/fs_util.h"
#include "common/json.h"
#include "common/log.h"

namespace sw {
namespace {

constexpr char kImmutable[] = "public, max-age=31536000, immutable";
constexpr char kRevalidate[] = "no-cache";

// Strong: the artifact's digest and the representation ("zst", "gz", "raw").
std::string ArtifactEtag(const OpenArtifact& art, const char* repr) {
  return "\"" + art.sha_prefix + "-" + repr + "\"";
}

HttpResponse MemResponse(std::string body, const char* content_type) {
  HttpResponse r;
  auto mem = std::make_shared<const std::string>(std::move(body));
  r.body.push_back(BodyPiece{nullptr, mem, 0, mem->size()});
  r.content_type = content_type;
  r.allow_ranges = false;
  return r;
}

// Canonical stage names (Warewulf's aliases normalised).
std::string CanonicalStage(const std::string& s) {
  if (s == "container") return "image";
  if (s == "overlay-system") return "system";
  if (s == "overlay-runtime") return "runtime";
  return s;
}

bool KnownStage(const std::string& s) {
  return s == "ipxe" || s == "kernel" || s == "image" || s == "kmods" || s == "system" ||
         s == "runtime" || s == "initramfs";
}

}  // namespace

Routes::Routes(ServerConfig cfg, Store* store)
    : cfg_(std::move(cfg)),
      store_(store),
      files_(cfg_.max_open_files, cfg_.copy_body_max, cfg_.small_file_cache_mb << 20),
      arts_(store, &files_),
      derived_(store, &files_, cfg_.workers) {
  auto fm = std::make_shared<tmpl::FuncMap>();
  tmpl::AddSprigFuncs(fm.get());
  funcs_ = fm;
  auto t = std::make_shared<NodeTable>();
  t->db = std::make_shared<NodeDb>();
  table_ = std::move(t);
}

std::shared_ptr<const Routes::NodeTable> Routes::table() const {
  std::lock_guard<std::mutex> l(mu_);
  return table_;
}

std::shared_ptr<const NodeDb> Routes::nodes() const { return table()->db; }

Status Routes::Reload() {
  auto db = NodeDb::Load(cfg_.nodes);
  arts_.Invalidate();
  std::lock_guard<std::mutex> l(mu_);
  templates_.clear();
  if (!db.ok()) return db.status();
  // /status lists every node (Warewulf does the same on start and reload); a node that stays
  // keeps its entry.
  auto t = std::make_shared<NodeTable>();
  t->db = *db;
  t->slots = std::make_unique<NodeSlot[]>(t->db->nodes().size());
  for (const auto& n : t->db->nodes()) {
    if (const Node* old = table_->db->Find(n.id)) {
      t->SlotOf(&n)->status = table_->SlotOf(old)->status;
    }
  }
  table_ = std::move(t);
  // Parsing a large nodes.conf (YAML) leaves tens of MB freed but kept by malloc (about 9 KB per
  // node at 10,000 nodes): give them back to the system.
  malloc_trim(0);
  return Status::OK();
}

const std::shared_ptr<NodeStatus>& Routes::Seen(const std::shared_ptr<NodeStatus>& s,
                                                std::string_view stage, std::string_view sent,
                                                const std::string& ip) {
  int64_t now = WallSeconds();
  std::lock_guard<std::mutex> l(status_mu_);
  s->stage = stage;
  s->sent = sent;
  s->ipaddr = ip;
  s->last_seen = now;
  return s;
}

void Routes::CountBytes(std::shared_ptr<NodeStatus> status, HttpResponse* r) {
  r->on_sent = [status = std::move(status)](uint64_t n) {
    status->bytes_sent.fetch_add(n, std::memory_order_relaxed);
  };
}

void Routes::Reply(const std::shared_ptr<ResponseWriter>& w, HttpResponse r,
                   const std::string& route) {
  {
    std::lock_guard<std::mutex> l(counts_mu_);
    ++route_counts_[{route, r.status}];
  }
  w->Respond(std::move(r));
}

std::string Routes::ArpLookup(const std::string& ip) const {
  auto text = ReadFileToString(cfg_.arp_file);
  if (!text.ok()) return "";
  std::istringstream in(*text);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string addr, type, flags, mac;
    if (f >> addr >> type >> flags >> mac && addr == ip && mac != "00:00:00:00:00:00") return mac;
  }
  return "";
}

Result<std::shared_ptr<const tmpl::Template>> Routes::LoadTemplate(const std::string& name) {
  if (name.find('/') != std::string::npos || name.find("..") != std::string::npos) {
    return Status::InvalidArgument("bad ipxe template name '" + name + "'");
  }
  std::string path = cfg_.ipxe_dir + "/" + name + ".ipxe";
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return FromErrno("ipxe template " + path, errno);
  int64_t mtime = st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = templates_.find(path);
    if (it != templates_.end() && it->second.first == mtime) return it->second.second;
  }
  SW_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  SW_ASSIGN_OR_RETURN(tmpl::Template t, tmpl::Template::Parse(name + ".ipxe", text, funcs_));
  auto shared = std::make_shared<const tmpl::Template>(std::move(t));
  std::lock_guard<std::mutex> l(mu_);
  templates_[path] = {mtime, shared};
  return std::shared_ptr<const tmpl::Template>(shared);
}

void Routes::ServeIpxe(const HttpRequest& req, const Node* node, NodeSlot* slot,
                       const std::string& hwaddr, const std::shared_ptr<ResponseWriter>& w) {
  std::string authority(req.Header("Host"));
  if (authority.empty()) authority = "localhost";
  std::string tname = node == nullptr ? "unconfigured"
                                      : (node->ipxe_template.empty() ? "default" : node->ipxe_template);
  auto t = LoadTemplate(tname);
  if (!t.ok()) {
    LOG(ERROR) << t.status().ToString();
    return Reply(w, HttpResponse::Status(500), "ipxe");
  }
  std::vector<std::pair<std::string, tmpl::Value>> f = {{"Hwaddr", hwaddr},
                                                        {"Authority", authority},
                                                        {"TLS", cfg_.tls}};
  if (node != nullptr) {
    // An imported kernel with a modules layer: the script loads it as one more initrd.
    bool imported = false;
    auto kernel = NodeKernel(*node, &imported);
    bool has_kmods = kernel.ok() && imported && (*kernel)->manifest.Meta("modules").has_value();
    std::vector<std::pair<std::string, tmpl::Value>> tags;
    for (const auto& [k, v] : node->tags) tags.emplace_back(k, tmpl::Value(v));
    const NetDev* p = node->Primary();
    f.insert(f.end(), {{"Id", node->id},
                       {"Hostname", node->id},
                       {"Fqdn", node->id},
                       {"Cluster", node->cluster_name},
                       {"ClusterName", node->cluster_name},
                       {"ImageName", node->image_name},
                       {"Ipxe", node->ipxe_template.empty() ? "default" : node->ipxe_template},
                       {"Ipaddr", p ? p->ipaddr : ""},
                       {"Ipaddr6", p ? p->ipaddr6 : ""},
                       {"Port", authority.substr(authority.rfind(':') + 1)},
                       {"KernelArgs", node->KernelArgsJoined()},
                       {"KernelVersion", node->kernel_version},
                       {"KernelModules", has_kmods},
                       {"Root", node->root},
                       {"Tags", tmpl::Value::Map(std::move(tags))},
                       {"NetDevs", NetDevsValue(*node)}});
  }
  auto out = (*t)->Render(tmpl::Value::Map(std::move(f)));
  if (!out.ok()) {
    LOG(ERROR) << "ipxe template " << tname << ": " << out.status().ToString();
    return Reply(w, HttpResponse::Status(500), "ipxe");
  }
  HttpResponse r = MemResponse(std::move(*out), "text");  // Warewulf sends "text" literally
  if (node != nullptr) {
    CountBytes(Seen(slot->status, "ipxe", tname + ".ipxe", req.PeerAddress()), &r);
  }
  Reply(w, std::move(r), "ipxe");
}

void Routes::ServeArtifact(const std::shared_ptr<const OpenArtifact>& art,
                           const std::string& compress, const std::string& route,
                           const std::shared_ptr<NodeStatus>& status, const HttpRequest& req,
                           const std::shared_ptr<ResponseWriter>& w) {
  // Stored frames as they are for compress=zstd; raw-stored chunks (kernels) for no compress=
  // (only kernels store raw chunks, and they are always served uncompressed); else a derived
  // encoding.
  bool as_stored = (compress == "zstd" && art->all_zstd) || (compress.empty() && art->all_raw);
  const char* repr = compress == "gz" ? "gz" : as_stored && compress == "zstd" ? "zst" : "raw";
  std::string etag = ArtifactEtag(*art, repr);
  bool gz = std::strcmp(repr, "gz") == 0;
  auto respond = [this, art, route, status, peer = req.PeerAddress(), w, etag, gz](
                     const std::vector<std::shared_ptr<const SharedFile>>& files) {
    HttpResponse r;
    for (const auto& f : files) r.body.push_back(BodyPiece{f, nullptr, 0, f->size});
    if (!files.empty() && gz && art->manifest.kind != ArtifactKind::kKernel) {
      // The gzip members are continuations of one cpio archive (DerivedCache): close it.
      static const auto* trailer = new std::shared_ptr<const std::string>(
          std::make_shared<const std::string>(GzipTrailerMember()));
      r.body.push_back(BodyPiece{nullptr, *trailer, 0, (*trailer)->size()});
    }
    r.content_type = "application/octet-stream";
    r.etag = etag;
    r.last_modified = art->manifest.created_unix;
    r.extra_headers.emplace_back("Cache-Control", kRevalidate);
    CountBytes(Seen(status, route, art->name.empty() ? route : art->name, peer), &r);
    Reply(w, std::move(r), route);
  };
  // A wwclient refresh that already has this version: the engine answers 304, so skip opening
  // the files (most of a 10,000-node cluster's requests, every minute).
  std::string_view inm = req.Header("If-None-Match");
  if (!inm.empty() && EtagMatches(inm, etag)) return respond({});
  if (as_stored) {
    auto files = arts_.StoredFiles(*art);
    if (!files.ok()) {
      // gc removed a chunk of a version replaced within the last second: the ref is read again
      // by then.
      LOG(WARNING) << route << ": " << files.status().ToString();
      HttpResponse r = HttpResponse::Status(503);
      r.extra_headers.emplace_back("Retry-After", "1");
      return Reply(w, std::move(r), route);
    }
    return respond(*files);
  }
  derived_.Ensure(art, gz ? Derived::kGzip : Derived::kRaw,
                  [this, respond, route, w](
                      Result<std::vector<std::shared_ptr<const SharedFile>>> files) {
                    if (!files.ok()) {
                      LOG(ERROR) << route << ": " << files.status().ToString();
                      return Reply(w, HttpResponse::Status(500), route);
                    }
                    respond(*files);
                  });
}

void Routes::Handle(const HttpRequest& req, std::shared_ptr<ResponseWriter> w) {
  std::string_view path = req.path;
  if (path == "/status") {
    HttpResponse r = MemResponse(StatusJson(), "");
    return Reply(w, std::move(r), "status");
  }
  if (path == "/metrics") {
    return Reply(w, MemResponse(MetricsText(), "text/plain; version=0.0.4"), "metrics");
  }
  // Content-addressed, immutable: /manifests/<id> and /chunks/<id> (stored bytes).
  for (const char* prefix : {"/manifests/", "/chunks/"}) {
    size_t plen = std::strlen(prefix);
    if (path.substr(0, plen) == prefix) {
      std::string route = prefix[1] == 'm' ? "manifests" : "chunks";
      auto id = ChunkId::FromHex(path.substr(plen));
      if (!id) return Reply(w, HttpResponse::Status(404), route);
      std::string file = route == "manifests" ? store_->ManifestPath(*id) : store_->ChunkPath(*id);
      auto f = OpenShared(file);
      if (!f.ok()) return Reply(w, HttpResponse::Status(404), route);
      HttpResponse r;
      r.body.push_back(BodyPiece{*f, nullptr, 0, (*f)->size});
      r.content_type = "application/octet-stream";
      r.etag = "\"" + id->Hex() + "\"";
      r.extra_headers.emplace_back("Cache-Control", kImmutable);
      return Reply(w, std::move(r), route);
    }
  }
  // /<stage>[/<id>]
  std::vector<std::string> comps;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    if (end > pos) comps.emplace_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  if (comps.empty()) return Reply(w, HttpResponse::Status(404), "other");
  std::string stage = comps[0];
  std::string q;
  if (stage == "provision") {
    stage = req.QueryParam("stage", &q) && !q.empty() ? CanonicalStage(q) : "ipxe";
    if (!KnownStage(stage)) return Reply(w, HttpResponse::Status(400), "provision");
  } else {
    stage = CanonicalStage(stage);
    if (!KnownStage(stage)) return Reply(w, HttpResponse::Status(404), "other");
  }
  const std::string& route = stage;
  // iPXE percent-encodes ':' in paths ("/kernel/52%3A54%3A..."); Go's mux decodes the path, so
  // we decode the id component the same way ('+' stays literal in a path).
  std::string wwid;
  if (comps.size() > 1) {
    std::string plus_safe = comps[1];
    for (size_t i = 0; (i = plus_safe.find('+', i)) != std::string::npos; i += 3) {
      plus_safe.replace(i, 1, "%2B");
    }
    if (!PercentDecode(plus_safe, &wwid)) return Reply(w, HttpResponse::Status(400), route);
  }
  if (wwid.empty() && req.QueryParam("wwid", &q)) wwid = q;
  if (wwid.empty()) wwid = ArpLookup(req.PeerAddress());
  if (wwid.empty()) return Reply(w, HttpResponse::Status(400), route);
  std::string hwaddr = NormalizeHwaddr(wwid);

  // Runtime overlays: TLS first, then Warewulf's privileged-port check.
  if (stage == "runtime") {
    if (cfg_.tls && !req.tls) return Reply(w, HttpResponse::Status(403), route);
    if (cfg_.secure && req.peer_port >= 1024) return Reply(w, HttpResponse::Status(401), route);
  }
  // `table` keeps the node's slot alive while this function runs; callbacks that outlive it
  // hold the node's status entry instead.
  std::shared_ptr<const NodeTable> table = this->table();
  const Node* node = table->db->FindByHwaddr(hwaddr);
  if (node == nullptr) node = table->db->Find(wwid);
  std::string compress;
  req.QueryParam("compress", &compress);
  if (node == nullptr) {
    if (stage == "ipxe") return ServeIpxe(req, nullptr, nullptr, hwaddr, w);
    return Reply(w, HttpResponse::Status(400), route);
  }
  if (!node->asset_key.empty()) {
    std::string key;
    req.QueryParam("assetkey", &key);
    if (key != node->asset_key) return Reply(w, HttpResponse::Status(401), route);
  }
  NodeSlot* slot = table->SlotOf(node);
  if (stage == "ipxe") {
    if (!compress.empty()) return Reply(w, HttpResponse::Status(404), route);
    return ServeIpxe(req, node, slot, hwaddr, w);
  }
  if (compress == "gzip") compress = "gz";
  if (!compress.empty() && compress != "gz" && compress != "zstd") {
    return Reply(w, HttpResponse::Status(404), route);
  }
  std::string ref;
  ArtifactMemo* memo = nullptr;
  if (stage == "kernel" || stage == "kmods") {
    if (node->image_name.empty() && node->kernel_version.empty()) {
      return Reply(w, HttpResponse::Status(400), route);
    }
    bool imported = false;
    auto art = NodeKernel(*node, &imported);
    if (art.ok() && stage == "kmods") {
      art = imported ? arts_.GetLinked("kernels/" + node->kernel_version, "modules")
                     : Status::NotFound("no modules layer: node " + node->id +
                                        " boots its image's own kernel");
    }
    if (!art.ok()) {
      LOG(WARNING) << route << " for " << node->id << ": " << art.status().ToString();
      return Reply(w, HttpResponse::Status(art.status().IsNotFound() ? 404 : 500), route);
    }
    if (stage == "kernel") compress.clear();  // the kernel is always sent as it is
    return ServeArtifact(*art, compress, route, slot->status, req, w);
  } else if (stage == "image") {
    if (node->image_name.empty()) return Reply(w, HttpResponse::Status(400), route);
    ref = "images/" + node->image_name;
    if (req.QueryParam("manifest", &q)) {
      // Two-stage boot (wwclient provision): the manifest; segments then come from /chunks/.
      auto art = arts_.Get(ref);
      if (!art.ok()) {
        return Reply(w, HttpResponse::Status(art.status().IsNotFound() ? 404 : 500), route);
      }
      auto f = OpenShared(store_->ManifestPath((*art)->manifest_id));
      if (!f.ok()) return Reply(w, HttpResponse::Status(500), route);
      HttpResponse r;
      r.body.push_back(BodyPiece{*f, nullptr, 0, (*f)->size});
      r.content_type = "application/octet-stream";
      r.etag = "\"" + (*art)->manifest_id.Hex() + "\"";
      r.last_modified = (*art)->manifest.created_unix;
      r.extra_headers.emplace_back("Cache-Control", kRevalidate);
      Seen(slot->status, "image", "manifest", req.PeerAddress());
      return Reply(w, std::move(r), route);
    }
  } else if (stage == "system" || stage == "runtime") {
    ref = "overlays/" + node->id + "/" + stage;
    memo = stage == "system" ? &slot->system : &slot->runtime;
  } else if (stage == "initramfs") {
    // Two-stage boot: the image's own stage-1 initramfs ("<image>.initramfs") if there is one,
    // else the shared one (`stage1`, scripts/make-stage1.sh), which provisions the node with
    // `wwclient provision`.
    if (node->image_name.empty()) return Reply(w, HttpResponse::Status(400), route);
    ref = "images/" + node->image_name + ".initramfs";
    if (!store_->GetRef(ref).ok()) ref = "images/stage1";
  } else {
    return Reply(w, HttpResponse::Status(404), route);
  }
  auto art = memo != nullptr ? arts_.Get(ref, memo) : arts_.Get(ref);
  if (!art.ok()) {
    if (!art.status().IsNotFound()) LOG(ERROR) << ref << ": " << art.status().ToString();
    return Reply(w, HttpResponse::Status(art.status().IsNotFound() ? 404 : 500), route);
  }
  ServeArtifact(*art, compress, route, slot->status, req, w);
}

Result<std::shared_ptr<const OpenArtifact>> Routes::NodeKernel(const Node& node, bool* imported) {
  *imported = false;
  const std::string& want = node.kernel_version;
  if (!want.empty() && Store::ValidateRefName("kernels/" + want).ok()) {
    auto k = arts_.Get("kernels/" + want);
    if (k.ok()) *imported = true;
    if (k.ok() || !k.status().IsNotFound()) return k;
  }
  if (node.image_name.empty()) {
    return Status::NotFound("no kernel '" + want + "' imported and the node has no image");
  }
  SW_ASSIGN_OR_RETURN(auto k, arts_.GetLinked("images/" + node.image_name, "kernel"));
  if (!want.empty()) {
    std::string have(k->manifest.Meta("kernel_version").value_or(""));
    bool pinned = want[0] == '/'
                      ? !have.empty() && want.size() > have.size() &&
                            want.compare(want.size() - have.size() - 1, std::string::npos,
                                         "-" + have) == 0
                      : have.compare(0, want.size(), want) == 0;
    if (!pinned) {
      return Status::NotFound("kernel '" + want + "' is neither an imported kernel nor image " +
                              node.image_name + "'s kernel (" + (have.empty() ? "?" : have) + ")");
    }
  }
  return k;
}

std::string Routes::StatusJson() const {
  std::shared_ptr<const NodeTable> table = this->table();
  std::lock_guard<std::mutex> l(status_mu_);
  std::string out = "{\n  \"nodes\": {";
  bool first = true;
  for (const Node& n : table->db->nodes()) {  // sorted by id
    const std::string& id = n.id;
    const NodeStatus& s = *table->SlotOf(&n)->status;
    out += first ? "\n" : ",\n";
    first = false;
    out += "    \"" + JsonEscape(id) + "\": {\n      \"node name\": \"" + JsonEscape(id) +
           "\",\n      \"stage\": \"" + JsonEscape(s.stage) + "\",\n      \"sent\": \"" +
           JsonEscape(s.sent) + "\",\n      \"ipaddr\": \"" + JsonEscape(s.ipaddr) +
           "\",\n      \"last seen\": " + std::to_string(s.last_seen) +
           ",\n      \"bytes sent\": " +
           std::to_string(s.bytes_sent.load(std::memory_order_relaxed)) + "\n    }";
  }
  out += first ? "}\n}\n" : "\n  }\n}\n";
  return out;
}

std::string Routes::MetricsText() const {
  std::string out;
  out += "# HELP stormwulf_requests_total Requests answered, by route and status code.\n";
  out += "# TYPE stormwulf_requests_total counter\n";
  uint64_t total = 0, not_modified = 0;
  {
    std::lock_guard<std::mutex> l(counts_mu_);
    for (const auto& [k, n] : route_counts_) {
      out += "stormwulf_requests_total{route=\"" + k.first + "\",code=\"" +
             std::to_string(k.second) + "\"} " + std::to_string(n) + "\n";
    }
  }
  out += "# HELP stormwulf_derived_builds_total Chunks encoded on demand (gzip or raw).\n";
  out += "# TYPE stormwulf_derived_builds_total counter\n";
  out += "stormwulf_derived_builds_total " + std::to_string(derived_.builds()) + "\n";
  if (engine_ != nullptr) {
    HttpMetrics m = engine_->Metrics();
    total = m.requests;
    not_modified = m.status_304;
    out += "# TYPE stormwulf_http_requests_total counter\nstormwulf_http_requests_total " +
           std::to_string(m.requests) + "\n";
    out += "# TYPE stormwulf_http_responses_total counter\n";
    for (int i = 1; i < 6; ++i) {
      out += "stormwulf_http_responses_total{class=\"" + std::to_string(i) + "xx\"} " +
             std::to_string(m.by_status[i]) + "\n";
    }
    out += "# TYPE stormwulf_bytes_sent_total counter\nstormwulf_bytes_sent_total " +
           std::to_string(m.bytes_sent) + "\n";
    out += "# TYPE stormwulf_active_connections gauge\nstormwulf_active_connections " +
           std::to_string(m.active_connections) + "\n";
    out += "# TYPE stormwulf_connection_errors_total counter\nstormwulf_connection_errors_total " +
           std::to_string(m.errors) + "\n";
    out += "# TYPE stormwulf_not_modified_ratio gauge\nstormwulf_not_modified_ratio " +
           std::to_string(total ? static_cast<double>(not_modified) / static_cast<double>(total) : 0) +
           "\n";
    out += "# TYPE stormwulf_request_duration_seconds histogram\n";
    uint64_t cum = 0;
    double bound = 0.0001;
    for (int i = 0; i < HttpMetrics::kBuckets; ++i, bound *= 4) {
      cum += m.latency_buckets[i];
      char le[32];
      snprintf(le, sizeof(le), "%g", bound);
      out += "stormwulf_request_duration_seconds_bucket{le=\"" +
             std::string(i == HttpMetrics::kBuckets - 1 ? "+Inf" : le) + "\"} " +
             std::to_string(cum) + "\n";
    }
    out += "stormwulf_request_duration_seconds_sum " + std::to_string(m.latency_sum_seconds) + "\n";
    out += "stormwulf_request_duration_seconds_count " + std::to_string(cum) + "\n";
  }
  return out;
}

}  // namespace sw
