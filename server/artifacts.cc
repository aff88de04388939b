#include "server/artifacts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "chunkstore/codec.h"
#include "chunkstore/maintenance.h"
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

Result<std::shared_ptr<const SharedFile>> FileCache::Open(const std::string& path) {
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = slots_.find(path);
    if (it != slots_.end()) {
      if (auto f = it->second.file.lock()) {
        Touch(path, &it->second, f);
        return f;
      }
    }
  }
  SW_ASSIGN_OR_RETURN(auto f, OpenShared(path));  // outside the lock: a cold open may block
  if (f->size > 0 && f->size <= small_max_ && small_budget_ > 0) {
    auto m = std::const_pointer_cast<SharedFile>(f);  // not shared with anyone yet
    m->budget = small_held_;  // read into memory on first use as a small body
    m->budget_limit = small_budget_;
  }
  std::lock_guard<std::mutex> l(mu_);
  Slot& slot = slots_[path];
  if (auto other = slot.file.lock()) f = other;  // another thread opened it meanwhile
  slot.file = f;
  Touch(path, &slot, f);
  if (slots_.size() > 2 * capacity_ + 1024) {  // forget files nobody has open any more
    for (auto e = slots_.begin(); e != slots_.end();) {
      e = !e->second.in_lru && e->second.file.expired() ? slots_.erase(e) : ++e;
    }
  }
  return f;
}

void FileCache::Touch(const std::string& path, Slot* slot, std::shared_ptr<const SharedFile> f) {
  if (slot->in_lru) {
    lru_.splice(lru_.begin(), lru_, slot->lru);
    return;
  }
  lru_.emplace_front(path, std::move(f));
  slot->lru = lru_.begin();
  slot->in_lru = true;
  while (lru_.size() > capacity_) {
    auto it = slots_.find(lru_.back().first);
    if (it != slots_.end()) {
      it->second.in_lru = false;
      // Only the LRU held it: the fd closes now and the slot is of no more use.
      if (lru_.back().second.use_count() == 1) slots_.erase(it);
    }
    lru_.pop_back();
  }
}

size_t FileCache::open_count() const {
  std::lock_guard<std::mutex> l(mu_);
  size_t n = 0;
  for (const auto& kv : slots_) n += kv.second.file.expired() ? 0 : 1;
  return n;
}

Result<std::shared_ptr<const OpenArtifact>> ArtifactCache::Open(const ChunkId& id) {
  auto a = std::make_shared<OpenArtifact>();
  a->manifest_id = id;
  SW_ASSIGN_OR_RETURN(a->manifest, store_->GetManifest(id));
  a->sha_prefix = a->manifest.Sha256Hex().substr(0, 32);
  a->name = std::string(a->manifest.Meta("name").value_or(""));
  a->stored_paths.reserve(a->manifest.chunks.size());
  for (const auto& c : a->manifest.chunks) {
    std::string path = store_->ChunkPath(c.id);
    SW_ASSIGN_OR_RETURN(auto f, files_->Open(path));
    uint8_t magic[4] = {};
    bool zstd = ::pread(f->fd.get(), magic, 4, 0) == 4 &&
                DetectEncoding(ByteSpan(magic, 4)) == ChunkEncoding::kZstd;
    a->all_zstd = a->all_zstd && zstd;
    a->all_raw = a->all_raw && !zstd;
    a->zstd.push_back(zstd ? 1 : 0);
    a->stored_paths.push_back(std::move(path));
  }
  return std::shared_ptr<const OpenArtifact>(std::move(a));
}

Result<std::vector<std::shared_ptr<const SharedFile>>> ArtifactCache::StoredFiles(
    const OpenArtifact& art) {
  std::vector<std::shared_ptr<const SharedFile>> files;
  files.reserve(art.stored_paths.size());
  for (const auto& p : art.stored_paths) {
    SW_ASSIGN_OR_RETURN(auto f, files_->Open(p));
    files.push_back(std::move(f));
  }
  return files;
}

Result<std::shared_ptr<const OpenArtifact>> ArtifactCache::Get(const std::string& ref) {
  SW_ASSIGN_OR_RETURN(Entry e, GetEntry(ref));
  return e.art;
}

Result<std::shared_ptr<const OpenArtifact>> ArtifactCache::Get(const std::string& ref,
                                                               ArtifactMemo* memo) {
  uint64_t now = MonotonicNanos() / 1000000;
  {
    std::lock_guard<std::mutex> l(memo->mu);
    if (memo->art && Current(memo->checked_ms, memo->generation, now)) return memo->art;
  }
  SW_ASSIGN_OR_RETURN(Entry e, GetEntry(ref));
  std::lock_guard<std::mutex> l(memo->mu);
  memo->art = e.art;
  memo->checked_ms = e.checked_ms;
  memo->generation = e.generation;
  return e.art;
}

bool ArtifactCache::Current(uint64_t checked_ms, uint64_t generation, uint64_t now) {
  if (now - checked_ms < kRecheckMs) return true;
  // Refresh the generation first: GetEntry tags what it reads next with it.
  if (now - generation_read_ms_.load(std::memory_order_acquire) >= kRecheckMs) {
    std::unique_lock<std::mutex> l(generation_mu_, std::try_to_lock);
    if (l.owns_lock() && now - generation_read_ms_.load() >= kRecheckMs) {
      auto g = store_->RefsGeneration();
      generation_.store(g.ok() ? *g : kNoGeneration, std::memory_order_release);
      generation_read_ms_.store(now, std::memory_order_release);
    }
  }
  return now - checked_ms < kMaxAgeMs && generation != kNoGeneration &&
         generation == generation_.load(std::memory_order_acquire);
}

Result<ArtifactCache::Entry> ArtifactCache::GetEntry(const std::string& ref) {
  uint64_t now = MonotonicNanos() / 1000000;
  Entry found;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = refs_.find(ref);
    if (it != refs_.end()) found = it->second;
  }
  // Outside mu_: Current() may read the generation file.
  if (found.art && Current(found.checked_ms, found.generation, now)) return found;
  std::shared_ptr<const OpenArtifact> cached = std::move(found.art);
  // One opener at a time: a storm of first requests must share one set of open chunk files,
  // not open the whole artifact once per request.
  std::lock_guard<std::mutex> opening(open_mu_);
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = refs_.find(ref);
    if (it != refs_.end() && now - it->second.checked_ms < kRecheckMs) return it->second;
    if (it != refs_.end()) cached = it->second.art;
  }
  // Read before the ref: a change after this point moves the generation past it.
  const uint64_t generation = generation_.load(std::memory_order_acquire);
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
  Entry e{std::move(art), now, generation};
  std::lock_guard<std::mutex> l(mu_);
  refs_[ref] = e;
  return e;
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

DerivedCache::DerivedCache(Store* store, FileCache* files, int workers)
    : store_(store), files_(files) {
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
  const bool seen = art->derived_seen[static_cast<int>(kind)].load(std::memory_order_acquire);
  for (size_t i = 0; !seen && i < art->manifest.chunks.size(); ++i) {
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
    std::string src = art->stored_paths[i];
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

void DerivedCache::Build(const ChunkId& id, Derived kind, const std::string& src_path) {
  std::string path = PathFor(id, kind);
  if (::access(path.c_str(), F_OK) == 0) return;
  if (kind == Derived::kGzip) {
    if (auto size = WriteGzipEncoding(*store_, id); !size.ok()) {
      LOG(ERROR) << "derived encoding " << path << ": " << size.status().ToString();
      return;
    }
    builds_.fetch_add(1);
    return;
  }
  auto stored = ReadFileToString(src_path);
  if (!stored.ok()) {
    LOG(ERROR) << "chunk " << id.Hex() << ": " << stored.status().ToString();
    return;
  }
  auto raw = DecodeChunk(ByteSpan(reinterpret_cast<const uint8_t*>(stored->data()), stored->size()));
  if (!raw.ok()) {
    LOG(ERROR) << "chunk " << id.Hex() << ": " << raw.status().ToString();
    return;
  }
  builds_.fetch_add(1);
  if (!MakeDirs(DirName(path), 0755).ok()) return;
  Status s = WriteFileAtomic(path, *raw, 0644);
  if (!s.ok()) LOG(ERROR) << "derived encoding " << path << ": " << s.ToString();
}

void DerivedCache::Finish(const std::shared_ptr<Request>& r) {
  std::vector<std::shared_ptr<const SharedFile>> files;
  const auto& chunks = r->art->manifest.chunks;
  for (size_t i = 0; i < chunks.size(); ++i) {
    // A raw-stored chunk is its own raw encoding.
    bool as_stored = r->kind == Derived::kRaw && !r->art->zstd[i];
    auto f = files_->Open(as_stored ? r->art->stored_paths[i] : PathFor(chunks[i].id, r->kind));
    if (!f.ok()) {
      r->done(f.status());
      return;
    }
    files.push_back(*f);
  }
  r->art->derived_seen[static_cast<int>(r->kind)].store(true, std::memory_order_release);
  r->done(std::move(files));
}

}  // namespace sw
