#include "server/artifacts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunkstore/codec.h"
#include "chunkstore/image_build.h"
#include "common/fs_util.h"
#include "common/log.h"

namespace sw {

Result<std::shared_ptr<const SharedFile>> OpenShared(const std::string& path) {
  auto f = std::make_shared<SharedFile>();
  f->fd.Reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!f->fd) return FromErrno("open " + path, errno);
  struct stat st;
  if (::fstat(f->fd.get(), &st) != 0) return FromErrno("fstat " + path, errno);
  f->size = static_cast<uint64_t>(st.st_size);
  f->path = path;
  return std::shared_ptr<const SharedFile>(std::move(f));
}

Result<std::shared_ptr<const OpenArtifact>> ArtifactCache::Open(const ChunkId& id) {
  auto a = std::make_shared<OpenArtifact>();
  a->manifest_id = id;
  SW_ASSIGN_OR_RETURN(a->manifest, store_->GetManifest(id));
  a->sha_prefix = a->manifest.Sha256Hex().substr(0, 32);
  a->stored.reserve(a->manifest.chunks.size());
  for (const auto& c : a->manifest.chunks) {
    SW_ASSIGN_OR_RETURN(auto f, OpenShared(store_->ChunkPath(c.id)));
    uint8_t magic[4] = {};
    bool zstd = ::pread(f->fd.get(), magic, 4, 0) == 4 &&
                DetectEncoding(ByteSpan(magic, 4)) == ChunkEncoding::kZstd;
    a->all_zstd = a->all_zstd && zstd;
    a->all_raw = a->all_raw && !zstd;
    a->zstd.push_back(zstd ? 1 : 0);
    a->stored.push_back(std::move(f));
  }
  return std::shared_ptr<const OpenArtifact>(std::move(a));
}

Result<std::shared_ptr<const OpenArtifact>> ArtifactCache::Get(const std::string& ref) {
  uint64_t now = MonotonicNanos() / 1000000;
  std::shared_ptr<const OpenArtifact> cached;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = refs_.find(ref);
    if (it != refs_.end()) {
      if (now - it->second.checked_ms < 1000) return it->second.art;
      cached = it->second.art;
    }
  }
  // One opener at a time: a storm of first requests must share one set of open chunk files,
  // not open the whole artifact once per request.
  std::lock_guard<std::mutex> opening(open_mu_);
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = refs_.find(ref);
    if (it != refs_.end() && now - it->second.checked_ms < 1000) return it->second.art;
    if (it != refs_.end()) cached = it->second.art;
  }
  auto id = store_->GetRef(ref);
  if (!id.ok()) {
    std::lock_guard<std::mutex> l(mu_);
    refs_.erase(ref);
    return id.status();
  }
  std::shared_ptr<const OpenArtifact> art;
  if (cached && cached->manifest_id == *id) {
    art = cached;
  } else {
    SW_ASSIGN_OR_RETURN(art, Open(*id));
  }
  std::lock_guard<std::mutex> l(mu_);
  refs_[ref] = Entry{art, now};
  return art;
}

Result<std::shared_ptr<const OpenArtifact>> ArtifactCache::GetLinked(const std::string& ref,
                                                                     const std::string& key) {
  SW_ASSIGN_OR_RETURN(auto parent, Get(ref));
  auto link = parent->manifest.Meta(key);
  if (!link) return Status::NotFound(ref + " has no " + key);
  auto id = ChunkId::FromHex(*link);
  if (!id) return Status::Corruption(ref + ": bad " + key + " link '" + std::string(*link) + "'");
  // Cached under "<ref>#<key>", valid as long as the link names the same manifest.
  const std::string slot = ref + "#" + key;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = refs_.find(slot);
    if (it != refs_.end() && it->second.art->manifest_id == *id) return it->second.art;
  }
  std::lock_guard<std::mutex> opening(open_mu_);
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = refs_.find(slot);
    if (it != refs_.end() && it->second.art->manifest_id == *id) return it->second.art;
  }
  SW_ASSIGN_OR_RETURN(auto art, Open(*id));
  std::lock_guard<std::mutex> l(mu_);
  refs_[slot] = Entry{art, 0};
  return art;
}

void ArtifactCache::Invalidate() {
  std::lock_guard<std::mutex> l(mu_);
  refs_.clear();
}

struct DerivedCache::Request {
  std::shared_ptr<const OpenArtifact> art;
  Derived kind;
  Done done;
  std::mutex mu;
  size_t missing = 0;
  Status failure;
};

DerivedCache::DerivedCache(Store* store, int workers) : store_(store) {
  for (int i = 0; i < std::max(1, workers); ++i) {
    threads_.emplace_back([this] {
      for (;;) {
        std::function<void()> task;
        {
          std::unique_lock<std::mutex> l(mu_);
          cv_.wait(l, [this] { return stop_ || !tasks_.empty(); });
          if (tasks_.empty()) return;
          task = std::move(tasks_.front());
          tasks_.pop_front();
        }
        task();
      }
    });
  }
}

DerivedCache::~DerivedCache() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

std::string DerivedCache::PathFor(const ChunkId& id, Derived kind) const {
  if (kind == Derived::kGzip) return store_->GzChunkPath(id);
  std::string hex = id.Hex();
  return store_->root() + "/cache/raw/" + hex.substr(0, 2) + "/" + hex;
}

void DerivedCache::Ensure(const std::shared_ptr<const OpenArtifact>& art, Derived kind,
                          Done done) {
  auto req = std::make_shared<Request>();
  req->art = art;
  req->kind = kind;
  req->done = std::move(done);
  std::vector<size_t> todo;
  for (size_t i = 0; i < art->manifest.chunks.size(); ++i) {
    // A raw-stored chunk is its own raw encoding.
    if (kind == Derived::kRaw && !art->zstd[i]) continue;
    if (::access(PathFor(art->manifest.chunks[i].id, kind).c_str(), F_OK) != 0) todo.push_back(i);
  }
  if (todo.empty()) return Finish(req);
  req->missing = todo.size();
  std::lock_guard<std::mutex> l(mu_);
  for (size_t i : todo) {
    const ChunkId id = art->manifest.chunks[i].id;
    std::string key = std::string(kind == Derived::kGzip ? "g" : "r") + id.Hex();
    auto& waiters = waiting_[key];
    waiters.push_back(req);
    if (waiters.size() > 1) continue;  // single flight: someone is already building it
    auto src = art->stored[i];
    tasks_.push_back([this, id, kind, src, key] {
      Build(id, kind, src);
      std::vector<std::shared_ptr<Request>> ws;
      {
        std::lock_guard<std::mutex> l2(mu_);
        ws = std::move(waiting_[key]);
        waiting_.erase(key);
      }
      for (auto& w : ws) {
        bool last;
        {
          std::lock_guard<std::mutex> l3(w->mu);
          last = --w->missing == 0;
        }
        if (last) Finish(w);
      }
    });
  }
  cv_.notify_all();
}

void DerivedCache::Build(const ChunkId& id, Derived kind,
                         const std::shared_ptr<const SharedFile>& src) {
  std::string path = PathFor(id, kind);
  if (::access(path.c_str(), F_OK) == 0) return;
  std::string stored(src->size, '\0');
  if (!PreadAll(src->fd.get(), stored.data(), stored.size(), 0, src->path).ok()) return;
  auto raw = DecodeChunk(ByteSpan(reinterpret_cast<const uint8_t*>(stored.data()), stored.size()));
  if (!raw.ok()) {
    LOG(ERROR) << "chunk " << id.Hex() << ": " << raw.status().ToString();
    return;
  }
  std::string out;
  if (kind == Derived::kGzip) {
    // Newc segments become continuations of one archive (chunkstore/image_build.h), so `gzip -d |
    // cpio -i` extracts a whole image; anything else (a kernel) is gzipped as it is.
    out = GzipSegmentMember(id, *raw);
  } else {
    out = std::move(*raw);
  }
  builds_.fetch_add(1);
  if (!MakeDirs(DirName(path), 0755).ok()) return;
  Status s = WriteFileAtomic(path, out, 0644);
  if (!s.ok()) LOG(ERROR) << "derived encoding " << path << ": " << s.ToString();
}

Result<std::shared_ptr<const SharedFile>> DerivedCache::OpenDerived(const ChunkId& id,
                                                                     Derived kind) {
  std::string path = PathFor(id, kind);
  std::lock_guard<std::mutex> l(open_mu_);
  auto it = open_.find(path);
  if (it != open_.end()) {
    if (auto f = it->second.lock()) return f;
  }
  SW_ASSIGN_OR_RETURN(auto f, OpenShared(path));
  if (open_.size() > 4096) {  // drop expired entries now and then
    for (auto e = open_.begin(); e != open_.end();) e = e->second.expired() ? open_.erase(e) : ++e;
  }
  open_[path] = f;
  return f;
}

void DerivedCache::Finish(const std::shared_ptr<Request>& r) {
  std::vector<std::shared_ptr<const SharedFile>> files;
  const auto& chunks = r->art->manifest.chunks;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (r->kind == Derived::kRaw && !r->art->zstd[i]) {
      files.push_back(r->art->stored[i]);  // a raw-stored chunk is its own raw encoding
      continue;
    }
    auto f = OpenDerived(chunks[i].id, r->kind);
    if (!f.ok()) {
      r->done(f.status());
      return;
    }
    files.push_back(*f);
  }
  r->done(std::move(files));
}

}  // namespace sw
