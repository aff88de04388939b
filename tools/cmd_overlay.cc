// swctl overlay: build per-node system and runtime overlays into the store, render one file.
//
// Sources follow Warewulf: <overlay-dir>/<name>/rootfs/...; files ending in .ww are Go templates
// (tmpl/) rendered per node with the output name dropping ".ww"; other files, directories and
// symlinks are copied with their mode and owner. A node's overlay list comes from nodes.conf
// (profiles merged, "~name" removes); later overlays win. Each node's overlay becomes a
// segmented newc artifact (ref overlays/<node>/system|runtime, switched atomically); rendered
// files identical across nodes are stored once (content addressing). The build is incremental:
// a node whose inputs did not change since the last build is not rendered again (OverlayInputs).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "chunkstore/image_build.h"
#include "chunkstore/newc.h"
#include "cluster/nodedb.h"
#include "cluster/template_data.h"
#include "common/fs_util.h"
#include "tmpl/template.h"
#include "tools/cli.h"
#include "tools/cli_util.h"
#include "tools/kernels.h"
#include "tools/overlay_state.h"

namespace sw {
namespace {

constexpr char kUsage[] =
    "usage: swctl overlay <command> [options]\n\n"
    "commands:\n"
    "  build [NODE...]       render every (or the named) node's system and runtime overlays\n"
    "                        into the store; stormwulfd picks the new refs up by itself\n"
    "  render NODE FILE      print one rendered file of a node's overlays (debugging)\n"
    "  list                  list the overlays in --overlay-dir\n"
    "  show OVERLAY [FILE]   list an overlay's source files, or print one\n"
    "  show --node NODE      what the store holds for a node: refs, digests, files\n"
    "Options: --store DIR, --nodes FILE (nodes.conf), --overlay-dir DIR, --server-ip ADDR.\n";

struct Source {  // one file of one overlay
  std::string rel;   // path in the overlay tree (".ww" kept)
  std::string full;  // path on disk
  struct stat st;
};

// Walks <dir>/<name>/rootfs into `out` (sorted, parents first).
Status Walk(const std::string& root, const std::string& rel, std::vector<Source>* out) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  SW_ASSIGN_OR_RETURN(auto names, ListDir(dir));
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    Source s;
    s.rel = rel.empty() ? n : rel + "/" + n;
    s.full = root + "/" + s.rel;
    if (::lstat(s.full.c_str(), &s.st) != 0) return FromErrno("lstat " + s.full, errno);
    out->push_back(s);
    if (S_ISDIR(s.st.st_mode)) SW_RETURN_IF_ERROR(Walk(root, s.rel, out));
  }
  return Status::OK();
}

// Warewulf's overlay functions that act on the output file (file, softlink, ImportLink, abort,
// nobackup) print a marker; the builder splits the rendered text at the markers. The markers use
// control characters that never occur in a template's own text.
constexpr char kMark[] = "\x1fSWMARK:";
constexpr char kMarkEnd = '\x1f';

std::string Marker(const std::string& what, const std::string& arg = "") {
  return std::string(kMark) + what + ":" + arg + kMarkEnd;
}

// The host files and images the templates read while one node's overlay is rendered (Include,
// IncludeBlock, readlink, ImportLink, IncludeFrom), each with its fingerprint when it was read:
// inputs of the incremental build besides the sources and the node data. OverlayBuilder points
// this at its list around each render, on the rendering thread.
using DepList = std::vector<std::pair<std::string, std::string>>;  // dep name, fingerprint
thread_local DepList* t_deps = nullptr;

// What changes when a file is edited, replaced, renamed over, chmod'ed or chown'ed: type and
// mode, owner, size, mtime and ctime (ns), inode.
std::string StatFingerprint(const struct stat& st) {
  return std::to_string(st.st_mode) + ':' + std::to_string(st.st_uid) + ':' +
         std::to_string(st.st_gid) + ':' + std::to_string(st.st_size) + ':' +
         std::to_string(st.st_mtim.tv_sec) + '.' + std::to_string(st.st_mtim.tv_nsec) + ':' +
         std::to_string(st.st_ctim.tv_sec) + '.' + std::to_string(st.st_ctim.tv_nsec) + ':' +
         std::to_string(st.st_ino);
}

// A host file's StatFingerprint; "-" when it cannot be stat'ed.
std::string FileFingerprint(const std::string& path, bool follow) {
  struct stat st;
  if ((follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) != 0) return "-";
  return StatFingerprint(st);
}

// Dependency names: "file\x1f<path>" (stat), "link\x1f<path>" (lstat), "image\x1f<name>" (its ref).
void NoteDep(std::string name, std::string fingerprint) {
  if (t_deps != nullptr) t_deps->emplace_back(std::move(name), std::move(fingerprint));
}
void NoteFileDep(const std::string& kind, const std::string& path) {
  if (t_deps != nullptr) NoteDep(kind + '\x1f' + path, FileFingerprint(path, kind == "file"));
}

// A `.ww` overlay source: a template whose output drops the suffix.
bool IsTemplate(const std::string& rel) { return rel.size() > 3 && rel.ends_with(".ww"); }

// Files read from imported images by IncludeFrom, cached for the whole build (many nodes, one
// image). Thread-safe.
class ImageFileCache {
 public:
  explicit ImageFileCache(Store* store) : store_(store) {}
  // The file and the manifest id of the image it was read from.
  Result<std::pair<std::string, ChunkId>> Read(const std::string& image, std::string path) {
    while (!path.empty() && path.front() == '/') path.erase(0, 1);
    std::lock_guard<std::mutex> l(mu_);
    auto key = image + "\n" + path;
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    if (store_ == nullptr) return Status::NotFound("IncludeFrom " + image + ": no store");
    SW_ASSIGN_OR_RETURN(auto id, store_->GetRef("images/" + image));
    SW_ASSIGN_OR_RETURN(auto m, store_->GetManifest(id));
    for (const auto& c : m.chunks) {
      SW_ASSIGN_OR_RETURN(std::string raw, store_->ReadChunkRaw(c.id, /*verify=*/true));
      SW_ASSIGN_OR_RETURN(auto entries, ParseNewc(raw));
      for (const auto& e : entries) {
        if (e.name == path && S_ISREG(e.h.mode)) {
          return cache_[key] = std::make_pair(std::string(e.data), id);
        }
      }
    }
    return Status::NotFound("IncludeFrom: no " + path + " in image " + image);
  }

 private:
  Store* store_;
  std::mutex mu_;
  std::map<std::string, std::pair<std::string, ChunkId>> cache_;  // GUARDED_BY(mu_)
};

// An image dependency's fingerprint: the manifest its ref names now.
std::string ImageFingerprint(const Store* store, const std::string& image) {
  if (store == nullptr) return "-";
  auto id = store->GetRef("images/" + image);
  return id.ok() ? id->Hex() : "-";
}

// Adds Warewulf's overlay functions that need the host or the store: Include, IncludeFrom,
// IncludeBlock, readlink, ImportLink, and the output markers file, softlink, abort, nobackup.
void AddOverlayFuncsTo(tmpl::FuncMap* fm, std::shared_ptr<ImageFileCache> images) {
  using tmpl::ArgType;
  using tmpl::FuncSig;
  using tmpl::Value;
  fm->Add("Include", FuncSig{{ArgType::kString}, false}, [](std::span<Value> a) -> Result<Value> {
    NoteFileDep("file", a[0].string_value());
    SW_ASSIGN_OR_RETURN(auto text, ReadFileToString(a[0].string_value()));
    return Value(text);
  });
  fm->Add("IncludeFrom", FuncSig{{ArgType::kString, ArgType::kString}, false},
          [images](std::span<Value> a) -> Result<Value> {
            SW_ASSIGN_OR_RETURN(auto file, images->Read(a[0].string_value(), a[1].string_value()));
            NoteDep("image\x1f" + a[0].string_value(), file.second.Hex());
            return Value(file.first);
          });
  // The file's lines up to (not including) the first that contains `stop`.
  fm->Add("IncludeBlock", FuncSig{{ArgType::kString, ArgType::kString}, false},
          [](std::span<Value> a) -> Result<Value> {
            NoteFileDep("file", a[0].string_value());
            SW_ASSIGN_OR_RETURN(auto text, ReadFileToString(a[0].string_value()));
            const std::string& stop = a[1].string_value();
            std::string out;
            size_t pos = 0;
            while (pos < text.size()) {
              size_t nl = text.find('\n', pos);
              size_t end = nl == std::string::npos ? text.size() : nl + 1;
              std::string_view line(text.data() + pos, end - pos);
              if (!stop.empty() && line.find(stop) != std::string_view::npos) break;
              out.append(line);
              pos = end;
            }
            return Value(out);
          });
  auto host_readlink = [](const std::string& path) -> Result<std::string> {
    NoteFileDep("link", path);
    return ReadSymlink(path);
  };
  fm->Add("readlink", FuncSig{{ArgType::kString}, false},
          [host_readlink](std::span<Value> a) -> Result<Value> {
            SW_ASSIGN_OR_RETURN(auto t, host_readlink(a[0].string_value()));
            return Value(t);
          });
  fm->Add("ImportLink", FuncSig{{ArgType::kString}, false},
          [host_readlink](std::span<Value> a) -> Result<Value> {
            SW_ASSIGN_OR_RETURN(auto t, host_readlink(a[0].string_value()));
            return Value(Marker("softlink", t));
          });
  fm->Add("file", FuncSig{{ArgType::kString}, false}, [](std::span<Value> a) -> Result<Value> {
    return Value(Marker("file", a[0].string_value()));
  });
  fm->Add("softlink", FuncSig{{ArgType::kString}, false}, [](std::span<Value> a) -> Result<Value> {
    return Value(Marker("softlink", a[0].string_value()));
  });
  fm->Add("abort", FuncSig{{}, false},
          [](std::span<Value>) -> Result<Value> { return Value(Marker("abort")); });
  fm->Add("nobackup", FuncSig{{}, false},
          [](std::span<Value>) -> Result<Value> { return Value(Marker("nobackup")); });
}

// The files a rendered template produces: `base` is the entry of the template (mode, owner),
// `path` its output path. Text before the first `file` marker goes to `path` (left out when blank
// and the template names other files); each `file "name"` starts a file in the template's
// directory (or at "/name" from the overlay root); `softlink "t"` turns the current file into a
// symlink to t; `abort` drops everything the template would write.
Status EmitRendered(const TreeEntry& base, const std::string& path, const std::string& text,
                    std::map<std::string, TreeEntry>* tree) {
  struct Out {
    std::string path, content, link;
  };
  std::vector<Out> outs{{path, "", ""}};
  bool named_files = false;
  size_t pos = 0;
  const std::string dir = path.find('/') == std::string::npos ? "" : DirName(path) + "/";
  while (pos <= text.size()) {
    size_t m = text.find(kMark, pos);
    outs.back().content.append(text, pos, m == std::string::npos ? std::string::npos : m - pos);
    if (m == std::string::npos) break;
    size_t start = m + std::strlen(kMark);
    size_t end = text.find(kMarkEnd, start);
    if (end == std::string::npos) break;
    std::string body = text.substr(start, end - start);
    size_t colon = body.find(':');
    std::string what = body.substr(0, colon), arg = body.substr(colon + 1);
    pos = end + 1;
    if (what == "abort") return Status::OK();
    if (what == "file") {
      named_files = true;
      std::string p = !arg.empty() && arg[0] == '/' ? arg.substr(1) : dir + arg;
      outs.push_back({p, "", ""});
      if (pos < text.size() && text[pos] == '\n') ++pos;  // the directive's own line
    } else if (what == "softlink") {
      outs.back().link = arg;
    }
  }
  for (auto& o : outs) {
    if (o.path.empty() || o.path.find("..") != std::string::npos) {
      return Status::InvalidArgument("template " + path + ": bad file name '" + o.path + "'");
    }
    bool blank = o.content.find_first_not_of(" \t\r\n") == std::string::npos;
    if (&o == &outs.front() && named_files && blank && o.link.empty()) continue;
    TreeEntry e = base;
    e.path = o.path;
    e.source_path.clear();
    if (!o.link.empty()) {
      e.mode = S_IFLNK | 0777;
      e.size = 0;
      e.symlink_target = o.link;
      e.content.reset();
    } else {
      e.mode = S_IFREG | (base.mode & 07777);
      e.size = o.content.size();
      e.content = std::make_shared<const std::string>(std::move(o.content));
    }
    (*tree)[e.path] = std::move(e);  // later overlays win
  }
  return Status::OK();
}

class OverlayBuilder {
 public:
  OverlayBuilder(Store* store, std::shared_ptr<const NodeDb> db, std::string dir, std::string ip)
      : store_(store), db_(std::move(db)), dir_(std::move(dir)), server_ip_(std::move(ip)) {
    auto fm = std::make_shared<tmpl::FuncMap>();
    tmpl::AddSprigFuncs(fm.get());
    tmpl::AddWarewulfFuncs(fm.get());
    AddOverlayFuncsTo(fm.get(), std::make_shared<ImageFileCache>(store_));
    funcs_ = fm;
    std::vector<tmpl::Value> all;
    for (const auto& n : db_->nodes()) all.push_back(NodeValue(n));
    all_nodes_ = tmpl::Value(std::move(all));
  }

  // The tree of one node's overlay list, rendered. InvalidArgument names the template.
  Result<std::vector<TreeEntry>> Render(const Node& node, const std::vector<std::string>& list,
                                        const std::string& kind) {
    std::map<std::string, TreeEntry> tree;
    tmpl::Value data;
    bool have_data = false;
    for (const auto& name : list) {
      auto listing = Sources(name);
      if (!listing.ok()) {
        return Status::InvalidArgument("node " + node.id + ": overlay '" + name +
                                       "' not found in " + dir_ + " (" + listing.status().ToString() + ")");
      }
      for (const auto& f : **listing) {
        TreeEntry e;
        e.path = f.rel;
        e.mode = f.st.st_mode;
        e.uid = f.st.st_uid;
        e.gid = f.st.st_gid;
        e.mtime = f.st.st_mtime;
        if (S_ISLNK(f.st.st_mode)) {
          SW_ASSIGN_OR_RETURN(e.symlink_target, ReadSymlink(f.full));
        } else if (S_ISREG(f.st.st_mode)) {
          if (IsTemplate(f.rel)) {
            if (!have_data) {
              data = NodeValue(node, kind, name);
              have_data = true;
            }
            SW_ASSIGN_OR_RETURN(auto t, Template(f.full, f.rel));
            SW_ASSIGN_OR_RETURN(auto out, RenderShared(*t, f.full, data, node));
            // One template may write several files, a symlink, or nothing (file, softlink,
            // ImportLink, abort): split its output at the markers those functions printed.
            SW_RETURN_IF_ERROR(EmitRendered(e, f.rel.substr(0, f.rel.size() - 3), out, &tree));
            continue;
          } else {
            e.size = static_cast<uint64_t>(f.st.st_size);
            e.source_path = f.full;
          }
        } else if (!S_ISDIR(f.st.st_mode)) {
          continue;  // devices, fifos: not overlay material
        }
        tree[e.path] = std::move(e);  // later overlays win
      }
    }
    std::vector<TreeEntry> out;
    for (auto& [p, e] : tree) out.push_back(std::move(e));
    return out;
  }

  // The files of overlay `name`, walked once per build and shared by every node.
  Result<std::shared_ptr<const std::vector<Source>>> Sources(const std::string& name) {
    std::lock_guard<std::mutex> l(sources_mu_);
    if (auto it = sources_.find(name); it != sources_.end()) return it->second;
    auto files = std::make_shared<std::vector<Source>>();
    SW_RETURN_IF_ERROR(Walk(dir_ + "/" + name + "/rootfs", "", files.get()));
    std::shared_ptr<const std::vector<Source>> shared = std::move(files);
    sources_.emplace(name, shared);
    return shared;
  }

  // Renders a template for one node. A template that reads .AllNodes costs O(nodes) per node, so
  // O(nodes^2) per build; its output depends only on the top-level fields it reads
  // (Template::TopLevelFields), and .AllNodes is the same for every node of a build, so it is
  // rendered once per distinct value of its other fields and shared (the sample `hosts` and
  // `slurm` overlays: once per build). `digest`, if given, receives XXH3-128 of the output.
  Result<std::string> RenderShared(const tmpl::Template& t, const std::string& path,
                                   const tmpl::Value& data, const Node& node,
                                   ChunkId* digest = nullptr) {
    std::string key;
    if (auto fields = t.TopLevelFields();
        fields && std::find(fields->begin(), fields->end(), "AllNodes") != fields->end()) {
      key = path;
      for (const auto& k : *fields) {
        if (k == "AllNodes") continue;
        const tmpl::Value* v = data.Find(k);
        key += '\x1f' + k + '=' + (v ? tmpl::FormatValue(*v) : std::string("<nil>"));
      }
      std::lock_guard<std::mutex> l(shared_mu_);
      if (auto it = shared_.find(key); it != shared_.end()) {
        if (t_deps != nullptr) {  // what it read is this node's input too
          t_deps->insert(t_deps->end(), it->second.deps.begin(), it->second.deps.end());
        }
        if (digest != nullptr) *digest = it->second.digest;
        return it->second.out;
      }
    }
    DepList deps;
    DepList* outer = t_deps;
    t_deps = &deps;
    auto out = t.Render(data);
    t_deps = outer;
    if (outer != nullptr) outer->insert(outer->end(), deps.begin(), deps.end());
    if (!out.ok()) return Status::InvalidArgument("node " + node.id + ": " + out.status().ToString());
    const ChunkId d = ChunkId::Of(*out);
    if (digest != nullptr) *digest = d;
    if (!key.empty()) {
      std::lock_guard<std::mutex> l(shared_mu_);
      shared_.emplace(key, SharedOutput{*out, std::move(deps), d});
    }
    return std::move(*out);
  }

  // The inputs of the last build, for skipping nodes whose inputs did not change (null: render
  // every node).
  void UseInputState(const OverlayInputState* previous) { previous_ = previous; }

  struct Built {  // a node's overlay rendered by this build, for the next build's input state
    std::string node, kind;
    OverlayInputRecord record;
  };

  // Renders and stages the node's two overlays in `batch`; their refs switch at its Commit().
  // Appends what the next build needs to skip them to `built`.
  Status Build(const Node& node, ChunkBatch* batch, std::vector<Built>* built) {
    auto node_json = tmpl::ValueToJson(NodeValue(node));  // an input of both kinds
    for (const char* kind : {"system", "runtime"}) {
      const auto& list = std::string(kind) == "system" ? node.system_overlay : node.runtime_overlay;
      const std::string ref = "overlays/" + node.id + "/" + kind;
      // Incremental: skip the node when every input is as the last build saw it and its ref
      // still names what that build made.
      std::optional<std::string> inputs;
      if (node_json.ok()) inputs = StaticInputs(node, *node_json, list, kind);
      if (inputs && previous_ != nullptr) {
        if (const OverlayInputRecord* rec = previous_->Find(node.id, kind)) {
          DepList now;
          for (const auto& d : rec->deps) now.emplace_back(d, DepFingerprint(d));
          if (InputDigest(*inputs, now) == rec->digest) {
            auto cur = store_->GetRef(ref);
            if (cur.ok() && *cur == rec->manifest) {
              skipped_.fetch_add(1);
              unchanged_.fetch_add(1);
              continue;
            }
          }
        }
      }
      DepList deps;
      t_deps = &deps;
      auto rendered = Render(node, list, kind);
      t_deps = nullptr;
      SW_RETURN_IF_ERROR(rendered.status());
      auto entries = std::move(*rendered);
      ImageBuildOptions o;
      o.kind = ArtifactKind::kOverlay;
      o.threads = 1;  // parallelism is across nodes
      o.batch = batch;
      o.stand_alone_bytes = 16384;  // shared .AllNodes outputs dedup as whole chunks
      o.large_files_first = true;   // ... and every node's overlay starts with them
      o.sha_prefix_cache = &sha_prefixes_;
      o.created_unix = build_time_;
      // No node name in the manifest: nodes with the same overlay content (runtime overlays,
      // typically) share one manifest. The ref names the node.
      o.meta = {{"overlays", Join(list)}};
      SW_ASSIGN_OR_RETURN(auto r, BuildArtifact(store_, std::move(entries), o));
      rendered_.fetch_add(1);
      std::sort(deps.begin(), deps.end());
      deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
      // The same content as the node has, made at another time, keeps the manifest the node
      // already has: the ref does not move and Last-Modified stays.
      ChunkId made = r.manifest_id;
      auto old = store_->GetRef(ref);
      if (old.ok() && *old != made) {
        if (auto om = store_->GetManifest(*old); om.ok() && r.manifest.SameContentAs(*om)) {
          made = *old;
        }
      }
      bool recordable = inputs.has_value();
      for (const auto& d : deps) recordable &= d.first.find_first_of("\t\n") == std::string::npos;
      if (recordable) {
        OverlayInputRecord rec{InputDigest(*inputs, deps), made, {}};
        for (const auto& d : deps) rec.deps.push_back(d.first);
        built->push_back({node.id, kind, std::move(rec)});
      }
      if (old.ok() && *old == made) {
        unchanged_.fetch_add(1);
        continue;
      }
      SW_RETURN_IF_ERROR(batch->SetRef(ref, made));
      changed_.fetch_add(1);
    }
    return Status::OK();
  }

  uint64_t changed() const { return changed_.load(); }
  uint64_t unchanged() const { return unchanged_.load(); }
  uint64_t rendered() const { return rendered_.load(); }
  uint64_t skipped() const { return skipped_.load(); }

 private:
  static std::string Join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
    return s;
  }

  // Everything a node's overlay of `kind` is made from except the host files and images its
  // templates read: format version, server address, overlay list, the node's merged data, every
  // source file's metadata, and what .AllNodes contributes. A template that reads .AllNodes is
  // rendered once per build anyway (RenderShared), so its *output* is the input: changing a node
  // in a way the hosts file does not show rebuilds that node only. Where a template's fields are
  // unknown, all of .AllNodes is the input. nullopt when an overlay cannot be listed or a
  // template does not parse or render (Render reports it). `node_json`: the node's own data.
  std::optional<std::string> StaticInputs(const Node& node, const std::string& node_json,
                                          const std::vector<std::string>& list,
                                          const std::string& kind) {
    std::string in = "stormwulf overlay build 1\n" + kind + "\n" + server_ip_ + "\n" +
                     Join(list) + "\n" + node_json + "\n";
    bool all_nodes = false;
    std::string first_with_template;  // Render gives every template of the node this .Overlay
    std::vector<const OverlayInfo*> infos;
    for (const auto& name : list) {
      const OverlayInfo* info = OverlayInputs(name);
      if (info == nullptr) return std::nullopt;
      in += name + ' ' + info->digest + '\n';
      all_nodes |= info->all_nodes_unknown;
      if (first_with_template.empty() && info->has_template) first_with_template = name;
      infos.push_back(info);
    }
    std::optional<tmpl::Value> data;
    for (const OverlayInfo* info : infos) {
      for (const auto& [full, rel] : info->shared_templates) {
        if (!data) data = NodeValue(node, kind, first_with_template);
        auto t = Template(full, rel);
        ChunkId digest;
        if (!t.ok() || !RenderShared(**t, full, *data, node, &digest).ok()) return std::nullopt;
        in += "shared " + rel + ' ' + digest.Hex() + '\n';
      }
    }
    if (all_nodes) {
      std::call_once(all_nodes_once_, [&] {
        auto j = tmpl::ValueToJson(all_nodes_);
        all_nodes_digest_ = ChunkId::Of(j.ok() ? *j : tmpl::FormatValue(all_nodes_)).Hex();
      });
      in += "AllNodes " + all_nodes_digest_ + "\n";
    }
    return in;
  }

  struct OverlayInfo {
    std::string digest;  // of the sources' metadata
    bool has_template = false;
    bool all_nodes_unknown = false;  // a template may read .AllNodes in ways we cannot tell
    // Templates that read .AllNodes through known fields (full path, overlay path): RenderShared
    // renders them once per build.
    std::vector<std::pair<std::string, std::string>> shared_templates;
  };

  // One overlay's sources as a digest of their metadata (path, type and mode, owner, size,
  // mtime, ctime, inode), and how its templates use .AllNodes. Computed once per build; null
  // when the overlay cannot be listed or a template does not parse.
  const OverlayInfo* OverlayInputs(const std::string& name) {
    {
      std::lock_guard<std::mutex> l(inputs_mu_);
      if (auto it = overlay_inputs_.find(name); it != overlay_inputs_.end()) return &it->second;
    }
    auto listing = Sources(name);
    if (!listing.ok()) return nullptr;
    std::string meta;
    OverlayInfo info;
    for (const auto& f : **listing) {
      meta += f.rel + '\x1f' + StatFingerprint(f.st) + '\n';
      if (S_ISREG(f.st.st_mode) && IsTemplate(f.rel)) {
        auto t = Template(f.full, f.rel);
        if (!t.ok()) return nullptr;
        info.has_template = true;
        auto fields = (*t)->TopLevelFields();
        if (!fields) {
          info.all_nodes_unknown = true;
        } else if (std::find(fields->begin(), fields->end(), "AllNodes") != fields->end()) {
          info.shared_templates.emplace_back(f.full, f.rel);
        }
      }
    }
    info.digest = ChunkId::Of(meta).Hex();
    std::lock_guard<std::mutex> l(inputs_mu_);
    return &overlay_inputs_.emplace(name, std::move(info)).first->second;  // std::map: stable
  }

  std::string DepFingerprint(const std::string& dep) {
    std::lock_guard<std::mutex> l(inputs_mu_);
    auto it = dep_fingerprints_.find(dep);
    if (it != dep_fingerprints_.end()) return it->second;
    size_t sep = dep.find('\x1f');
    std::string kind = dep.substr(0, sep);
    std::string arg = sep == std::string::npos ? "" : dep.substr(sep + 1);
    std::string fp = kind == "image" ? ImageFingerprint(store_, arg)
                     : kind == "file" || kind == "link" ? FileFingerprint(arg, kind == "file")
                                                        : "?";
    return dep_fingerprints_[dep] = fp;
  }

  static ChunkId InputDigest(const std::string& inputs, const DepList& deps) {
    ChunkHasher h;
    h.Update(inputs);
    for (const auto& [name, fp] : deps) {
      h.Update(name);
      h.Update(std::string_view("\x1e"));
      h.Update(fp);
      h.Update(std::string_view("\n"));
    }
    return h.Finish();
  }

  Result<std::shared_ptr<const tmpl::Template>> Template(const std::string& path,
                                                         const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = templates_.find(path);
    if (it != templates_.end()) return it->second;
    SW_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
    SW_ASSIGN_OR_RETURN(tmpl::Template t, tmpl::Template::Parse(name, text, funcs_));
    auto p = std::make_shared<const tmpl::Template>(std::move(t));
    templates_[path] = p;
    return std::shared_ptr<const tmpl::Template>(p);
  }

  // Warewulf's template data (warewulf.md §4): the merged node, server information, .AllNodes.
  tmpl::Value NodeValue(const Node& n, const std::string& kind = "", const std::string& ov = "") {
    std::vector<std::pair<std::string, tmpl::Value>> tags;
    for (const auto& [k, v] : n.tags) tags.emplace_back(k, tmpl::Value(v));
    std::vector<std::pair<std::string, tmpl::Value>> f = {
        {"Id", n.id},
        {"Hostname", n.id},
        {"ClusterName", n.cluster_name},
        {"ImageName", n.image_name},
        {"ContainerName", n.image_name},
        {"Root", n.root},
        {"Init", n.init},
        {"AssetKey", n.asset_key},
        {"PrimaryNetDev", n.primary_network},
        {"Kernel", tmpl::Value::Struct({{"Version", n.kernel_version},
                                         {"Args", tmpl::Value::StringList(n.kernel_args)}})},
        {"NetDevs", NetDevsValue(n)},
        {"Tags", tmpl::Value::Map(std::move(tags))},
    };
    if (!kind.empty()) {
      f.insert(f.end(), {{"Ipaddr", server_ip_},
                         {"BuildHost", "stormwulf"},
                         {"Overlay", ov},
                         {"OverlayKind", kind},
                         {"AllNodes", all_nodes_}});
    }
    return tmpl::Value::Struct(std::move(f));
  }

  Store* store_;
  std::shared_ptr<const NodeDb> db_;
  std::string dir_;
  std::string server_ip_;
  std::shared_ptr<const tmpl::FuncMap> funcs_;
  std::mutex sources_mu_;
  std::map<std::string, std::shared_ptr<const std::vector<Source>>> sources_;  // GUARDED_BY(sources_mu_)
  std::mutex shared_mu_;
  struct SharedOutput {
    std::string out;
    DepList deps;    // what rendering it read
    ChunkId digest;  // of out
  };
  std::map<std::string, SharedOutput> shared_;  // GUARDED_BY(shared_mu_): RenderShared's outputs
  tmpl::Value all_nodes_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const tmpl::Template>> templates_;
  std::atomic<uint64_t> changed_{0}, unchanged_{0}, rendered_{0}, skipped_{0};
  const OverlayInputState* previous_ = nullptr;
  std::mutex inputs_mu_;
  std::map<std::string, OverlayInfo> overlay_inputs_;    // GUARDED_BY(inputs_mu_)
  std::map<std::string, std::string> dep_fingerprints_;  // GUARDED_BY(inputs_mu_)
  std::once_flag all_nodes_once_;
  std::string all_nodes_digest_;
  Sha256PrefixCache sha_prefixes_;
  const int64_t build_time_ = WallSeconds();
};

void AddOverlayOptions(po::options_description* o) {
  AddCommonOptions(o);
  o->add_options()("nodes", po::value<std::string>()->default_value("/etc/stormwulf/nodes.conf"),
                   "nodes.conf")(
      "overlay-dir", po::value<std::string>()->default_value("/var/lib/stormwulf/overlays"),
      "overlay sources: <dir>/<name>/rootfs")(
      "server-ip", po::value<std::string>()->default_value(""), "head node address for templates")(
      "threads", po::value<int>()->default_value(0), "parallel nodes (0 = one per core)")(
      "quiet,q", "no progress");
}

// What the overlays are made from, as a cheap fingerprint: nodes.conf's and every overlay source's
// path and StatFingerprint. Any edit, addition, removal or rename changes it.
std::string InputFingerprint(const std::string& nodes, const std::string& overlay_dir) {
  std::string fp;
  auto add = [&](const std::string& path, const struct stat& st) {
    fp += path + '\x1f' + StatFingerprint(st) + '\n';
  };
  struct stat st;
  if (::stat(nodes.c_str(), &st) == 0) add(nodes, st);
  std::vector<std::string> stack = {overlay_dir};
  while (!stack.empty()) {
    std::string dir = stack.back();
    stack.pop_back();
    auto names = ListDir(dir);
    if (!names.ok()) continue;
    std::sort(names->begin(), names->end());
    for (const auto& n : *names) {
      std::string p = dir + "/" + n;
      if (::lstat(p.c_str(), &st) != 0) continue;
      add(p, st);
      if (S_ISDIR(st.st_mode)) stack.push_back(p);
    }
  }
  return fp;
}

int BuildOnce(const po::variables_map& vm);

volatile sig_atomic_t g_watch_stop = 0;

int Build(const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddOverlayOptions(&opts);
  opts.add_options()("node", po::value<std::vector<std::string>>(), "nodes to build")(
      "watch", "keep running: rebuild whenever nodes.conf or an overlay source changes, then "
               "tell stormwulfd to reload (SIGHUP)")(
      "watch-interval", po::value<double>()->default_value(2.0),
      "seconds between checks for changes with --watch")(
      "force", "render every node, even those whose inputs did not change since the last build");
  po::positional_options_description pos;
  pos.add("node", -1);
  po::variables_map vm;
  if (int rc = ParseArgs(args, "usage: swctl overlay build [NODE...] [--watch]", opts, pos, &vm);
      rc >= 0) {
    return rc;
  }
  if (!vm.count("watch")) return BuildOnce(vm);
  // Watch mode: the build runs here, off stormwulfd's request path; stormwulfd serves whatever
  // refs are current and rereads nodes.conf on SIGHUP. A failed build is reported and retried
  // on the next change; SIGINT/SIGTERM end the loop.
  signal(SIGINT, [](int) { g_watch_stop = 1; });
  signal(SIGTERM, [](int) { g_watch_stop = 1; });
  const std::string nodes = vm["nodes"].as<std::string>();
  const std::string odir = vm["overlay-dir"].as<std::string>();
  double interval = std::max(0.1, vm["watch-interval"].as<double>());
  std::string last = InputFingerprint(nodes, odir);
  int rc = BuildOnce(vm);
  if (rc == 0) ReloadStormwulfd();
  fprintf(stderr, "swctl: watching %s and %s for changes (Ctrl-C to stop)\n", nodes.c_str(),
          odir.c_str());
  while (!g_watch_stop) {
    usleep(static_cast<useconds_t>(interval * 1e6));
    std::string now = InputFingerprint(nodes, odir);
    if (now == last) continue;
    // Let an editor or `cp -r` finish: rebuild once the inputs hold still for one interval.
    usleep(static_cast<useconds_t>(interval * 1e6));
    std::string settled = InputFingerprint(nodes, odir);
    if (settled != now) continue;
    last = settled;
    fprintf(stderr, "swctl: inputs changed; rebuilding\n");
    rc = BuildOnce(vm);
    if (rc == 0) {
      int n = ReloadStormwulfd();
      if (n > 0) {
        fprintf(stderr, "swctl: told %d stormwulfd process%s to reload\n", n, n == 1 ? "" : "es");
      }
    } else {
      fprintf(stderr, "swctl: build failed (exit %d); the previous overlays stay served\n", rc);
    }
    fflush(stdout);
  }
  return 0;
}

int BuildOnce(const po::variables_map& vm) {
  auto db = NodeDb::Load(vm["nodes"].as<std::string>());
  if (!db.ok()) {
    std::cerr << "swctl: " << db.status().ToString() << "\n";
    return 1;
  }
  auto store = OpenStoreOrDie(vm, /*create=*/true);
  if (!store) return 1;
  auto lock = store->LockShared();
  if (!lock.ok()) {
    std::cerr << "swctl: " << lock.status().ToString() << "\n";
    return 1;
  }
  std::vector<const Node*> todo;
  if (vm.count("node")) {
    for (const auto& id : vm["node"].as<std::vector<std::string>>()) {
      const Node* n = (*db)->Find(id);
      if (n == nullptr) {
        std::cerr << "swctl: no node '" << id << "' in nodes.conf\n";
        return 1;
      }
      todo.push_back(n);
    }
  } else {
    for (const auto& n : (*db)->nodes()) todo.push_back(&n);
  }
  OverlayBuilder b(store.get(), *db, vm["overlay-dir"].as<std::string>(),
                   vm["server-ip"].as<std::string>());
  // What the last build was made from: nodes whose inputs did not change are skipped.
  const std::string state_path = store->root() + "/state/overlay-inputs";
  OverlayInputState state;
  if (auto loaded = OverlayInputState::Load(state_path); loaded.ok()) {
    state = std::move(*loaded);
  } else {
    std::cerr << "swctl: warning: " << loaded.status().ToString() << "; rendering every node\n";
  }
  if (!vm.count("force")) b.UseInputState(&state);
  int threads = vm["threads"].as<int>();
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::atomic<size_t> next{0}, done{0};
  std::mutex err_mu;
  std::vector<std::string> errors;
  uint64_t t0 = MonotonicNanos();
  ProgressLine progress(vm.count("quiet") > 0);
  // Nodes are built in groups that share one ChunkBatch: a group's chunks, manifests and refs
  // become durable with a handful of syncfs/fsync calls instead of ~10 fsyncs per node, and its
  // refs switch together once everything they name is on disk.
  constexpr size_t kGroup = 2048;
  for (size_t g0 = 0; g0 < todo.size(); g0 += kGroup) {
    size_t g1 = std::min(todo.size(), g0 + kGroup);
    ChunkBatch batch(store.get());
    next.store(g0);
    std::vector<std::thread> pool;
    std::vector<std::vector<OverlayBuilder::Built>> built(static_cast<size_t>(threads));
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (size_t i; (i = next.fetch_add(1)) < g1;) {
          Status s = b.Build(*todo[i], &batch, &built[static_cast<size_t>(t)]);
          if (!s.ok()) {
            std::lock_guard<std::mutex> l(err_mu);
            errors.push_back(s.ToString());
          }
          done.fetch_add(1);
        }
      });
    }
    while (done.load() < g1) {
      progress.Update("building overlays: " + std::to_string(done.load()) + "/" +
                      std::to_string(todo.size()) + " nodes");
      usleep(20000);
    }
    for (auto& t : pool) t.join();
    if (Status s = batch.Commit(); !s.ok()) {
      errors.push_back("nodes " + todo[g0]->id + ".." + todo[g1 - 1]->id +
                       " keep their previous overlays: " + s.ToString());
      continue;
    }
    for (auto& list : built) {  // their refs are committed: record what they were made from
      for (auto& x : list) state.Set(x.node, x.kind, std::move(x.record));
    }
  }
  progress.Done();
  std::set<std::string> known;
  for (const auto& n : (*db)->nodes()) known.insert(n.id);
  state.Retain(known);
  if (Status s = state.Save(state_path); !s.ok()) {
    std::cerr << "swctl: warning: " << s.ToString() << " (the next build renders every node)\n";
  }
  double secs = static_cast<double>(MonotonicNanos() - t0) / 1e9;
  for (const auto& e : errors) std::cerr << "swctl: " << e << "\n";
  // The kernel each node will boot must find its modules (warnings: the overlays are still fine).
  KernelChecker kc(store.get());
  std::map<std::string, std::vector<std::string>> kernel_warnings;  // warning -> nodes
  for (const Node* n : todo) {
    std::string w = kc.Check(n->image_name, n->kernel_version);
    if (!w.empty()) kernel_warnings[w].push_back(n->id);
  }
  for (const auto& [w, nodes] : kernel_warnings) {
    std::string who = nodes.front();
    if (nodes.size() > 1) who += " and " + std::to_string(nodes.size() - 1) + " more";
    std::cerr << "swctl: warning: " << who << ": " << w << "\n";
  }
  if (!vm.count("quiet")) {
    printf("overlays for %zu nodes in %.2fs: %llu refs changed, %llu unchanged (%llu not "
           "rendered: inputs unchanged), %zu errors\n",
           todo.size(), secs, static_cast<unsigned long long>(b.changed()),
           static_cast<unsigned long long>(b.unchanged()),
           static_cast<unsigned long long>(b.skipped()), errors.size());
  }
  return errors.empty() ? 0 : 1;
}

int Render(const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddOverlayOptions(&opts);
  opts.add_options()("node", po::value<std::string>(), "node")("file", po::value<std::string>(),
                                                               "file path in the overlay");
  po::positional_options_description pos;
  pos.add("node", 1).add("file", 1);
  po::variables_map vm;
  if (int rc = ParseArgs(args, "usage: swctl overlay render NODE FILE", opts, pos, &vm); rc >= 0) {
    return rc;
  }
  if (!vm.count("node") || !vm.count("file")) return 2;
  auto db = NodeDb::Load(vm["nodes"].as<std::string>());
  if (!db.ok()) {
    std::cerr << "swctl: " << db.status().ToString() << "\n";
    return 1;
  }
  const Node* n = (*db)->Find(vm["node"].as<std::string>());
  if (n == nullptr) {
    std::cerr << "swctl: unknown node\n";
    return 1;
  }
  // The store is only read (IncludeFrom); rendering works without one.
  std::unique_ptr<Store> store;
  if (auto st = Store::Open(Store::DefaultRoot(vm["store"].as<std::string>()), StoreOptions{}); st.ok()) {
    store = std::move(*st);
  }
  OverlayBuilder b(store.get(), *db, vm["overlay-dir"].as<std::string>(),
                   vm["server-ip"].as<std::string>());
  std::string want = vm["file"].as<std::string>();
  while (!want.empty() && want[0] == '/') want.erase(0, 1);
  for (const char* kind : {"system", "runtime"}) {
    auto tree = b.Render(*n, std::string(kind) == "system" ? n->system_overlay : n->runtime_overlay,
                         kind);
    if (!tree.ok()) {
      std::cerr << "swctl: " << tree.status().ToString() << "\n";
      return 1;
    }
    for (const auto& e : *tree) {
      if (e.path != want) continue;
      if (S_ISLNK(e.mode)) {
        printf("symlink -> %s\n", e.symlink_target.c_str());
      } else if (e.content) {
        fwrite(e.content->data(), 1, e.content->size(), stdout);
      } else if (!e.source_path.empty()) {
        auto t = ReadFileToString(e.source_path);
        if (t.ok()) fwrite(t->data(), 1, t->size(), stdout);
      }
      return 0;
    }
  }
  std::cerr << "swctl: " << want << " is not in node " << n->id << "'s overlays\n";
  return 1;
}

int List(const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddOverlayOptions(&opts);
  po::variables_map vm;
  if (int rc = ParseArgs(args, "usage: swctl overlay list", opts, {}, &vm); rc >= 0) return rc;
  auto names = ListDir(vm["overlay-dir"].as<std::string>());
  if (!names.ok()) {
    std::cerr << "swctl: " << names.status().ToString() << "\n";
    return 1;
  }
  std::sort(names->begin(), names->end());
  for (const auto& n : *names) printf("%s\n", n.c_str());
  return 0;
}

// "drwxr-xr-x"-style type and permission bits.
std::string ModeString(uint32_t mode) {
  std::string m = S_ISDIR(mode) ? "d" : S_ISLNK(mode) ? "l" : S_ISREG(mode) ? "-" : "?";
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) m += (mode & (0400u >> i)) ? rwx[i] : '-';
  return m;
}

// One line of a file listing: mode, owner, size, path (and a symlink's target).
void PrintEntry(uint32_t mode, uint32_t uid, uint32_t gid, uint64_t size, const std::string& path,
                std::string_view target, const char* note = "") {
  printf("%s %5u:%-5u %9llu  %s", ModeString(mode).c_str(), uid, gid,
         static_cast<unsigned long long>(size), path.c_str());
  if (S_ISLNK(mode)) printf(" -> %.*s", static_cast<int>(target.size()), target.data());
  printf("%s\n", note);
}

// The built overlays of one node: ref, manifest, size, digest and the files, read back from the
// store (every segment verified).
int ShowNode(const po::variables_map& vm) {
  auto store = OpenStoreOrDie(vm, /*create=*/false);
  if (!store) return 1;
  const std::string node = vm["node"].as<std::string>();
  int rc = 0;
  for (const char* kind : {"system", "runtime"}) {
    auto id = store->GetRef("overlays/" + node + "/" + kind);
    if (!id.ok()) {
      printf("%s %s overlay: not built (%s)\n", node.c_str(), kind, id.status().ToString().c_str());
      rc = 1;
      continue;
    }
    auto m = store->GetManifest(*id);
    if (!m.ok()) {
      std::cerr << "swctl: " << m.status().ToString() << "\n";
      return 1;
    }
    uint64_t stored = 0;
    for (const auto& c : m->chunks) stored += c.stored_size;
    printf("%s %s overlay [%s]\n  manifest %s, %s in %zu segments (%s stored), built %s\n"
           "  sha256 %s\n",
           node.c_str(), kind, std::string(m->Meta("overlays").value_or("")).c_str(),
           id->Hex().c_str(), HumanBytes(m->total_raw_size).c_str(), m->chunks.size(),
           HumanBytes(stored).c_str(), HumanTime(m->created_unix).c_str(),
           m->Sha256Hex().c_str());
    for (const auto& c : m->chunks) {
      auto raw = store->ReadChunkRaw(c.id, /*verify=*/true);
      auto entries = raw.ok() ? ParseNewc(*raw) : Result<std::vector<NewcEntry>>(raw.status());
      if (!entries.ok()) {
        std::cerr << "swctl: segment " << c.id.Hex() << ": " << entries.status().ToString() << "\n";
        return 1;
      }
      for (const auto& e : *entries) {
        printf("  ");
        PrintEntry(e.h.mode, e.h.uid, e.h.gid, S_ISREG(e.h.mode) ? e.h.filesize : 0, e.name,
                   e.data);
      }
    }
  }
  return rc;
}

int Show(const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddOverlayOptions(&opts);
  opts.add_options()("name", po::value<std::string>(), "overlay")(
      "file", po::value<std::string>(), "file in the overlay")(
      "node", po::value<std::string>(), "show what the store holds for this node instead");
  po::positional_options_description pos;
  pos.add("name", 1).add("file", 1);
  po::variables_map vm;
  if (int rc = ParseArgs(args, "usage: swctl overlay show OVERLAY [FILE] | --node NODE", opts, pos,
                         &vm);
      rc >= 0) {
    return rc;
  }
  if (vm.count("node")) return ShowNode(vm);
  if (!vm.count("name")) {
    std::cerr << "usage: swctl overlay show OVERLAY [FILE] | --node NODE\n";
    return 2;
  }
  const std::string name = vm["name"].as<std::string>();
  const std::string root = vm["overlay-dir"].as<std::string>() + "/" + name + "/rootfs";
  struct stat st;
  if (name.find('/') != std::string::npos || name == ".." || ::stat(root.c_str(), &st) != 0) {
    std::cerr << "swctl: no overlay '" << name << "' in " << vm["overlay-dir"].as<std::string>()
              << " (expected " << root << ")\n";
    return 1;
  }
  if (vm.count("file")) {
    std::string rel = vm["file"].as<std::string>();
    while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
    if (rel.empty() || ("/" + rel + "/").find("/../") != std::string::npos) {
      std::cerr << "swctl: bad file name '" << vm["file"].as<std::string>() << "'\n";
      return 1;
    }
    auto text = ReadFileToString(root + "/" + rel);
    if (!text.ok()) {
      std::cerr << "swctl: " << text.status().ToString() << "\n";
      return 1;
    }
    fwrite(text->data(), 1, text->size(), stdout);
    return 0;
  }
  std::vector<Source> files;
  if (Status s = Walk(root, "", &files); !s.ok()) {
    std::cerr << "swctl: " << s.ToString() << "\n";
    return 1;
  }
  for (const auto& f : files) {
    std::string target;
    if (S_ISLNK(f.st.st_mode)) {
      if (auto t = ReadSymlink(f.full); t.ok()) target = std::move(*t);
    }
    bool tmpl = S_ISREG(f.st.st_mode) && IsTemplate(f.rel);
    PrintEntry(f.st.st_mode, f.st.st_uid, f.st.st_gid,
               S_ISREG(f.st.st_mode) ? static_cast<uint64_t>(f.st.st_size) : 0, f.rel, target,
               tmpl ? "  (template)" : "");
  }
  return 0;
}

}  // namespace

int RunOverlayCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "build") return Build(rest);
  if (args[0] == "render") return Render(rest);
  if (args[0] == "list") return List(rest);
  if (args[0] == "show") return Show(rest);
  std::cerr << "swctl overlay: unknown command '" << args[0] << "'\n\n" << kUsage;
  return 2;
}

}  // namespace sw
