// server/artifacts.h: what stormwulfd serves, resolved from store refs, with open chunk files.
//
// An OpenArtifact is one manifest with every chunk file opened; responses hold shared_ptrs to the
// files, so a download always sends one consistent version even if a new version's ref lands, gc
// deletes the old chunks or `swctl store optimize` replaces a chunk file mid-download.
// ArtifactCache resolves refs ("images/rocky9") to OpenArtifacts, re-reading a ref at most once a
// second (so new versions appear within a second without a restart) and reusing the open files of
// an unchanged manifest. DerivedCache makes the encodings that are not stored: one gzip member per
// chunk (<store>/chunks/xx/<id>.gz, for compress=gz) and the raw bytes of zstd chunks
// (<store>/cache/raw/xx/<id>, for uncompressed requests), built once per chunk on a worker pool
// with single flight, so a storm of requests for a new image builds each chunk once.
// Thread-safety: both caches may be used from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "chunkstore/manifest.h"
#include "chunkstore/store.h"
#include "server/http_types.h"

namespace sw {

// Open files shared by every response that sends them: one fd per file however many responses and
// artifacts use it. A file no response holds stays open while it is among the `capacity` most
// recently opened or used, so the fds stormwulfd holds stay bounded: 10,000 nodes' overlays
// would otherwise keep 10,000 chunk files open beside 10,000 connections.
// Thread-safe.
class FileCache {
 public:
  // Keeps at most `capacity` files open with nobody using them. Files of up to small_max bytes
  // are also read into memory while the bytes so held stay under small_budget (0: none), so a
  // small body (an overlay) is sent without a read from the page cache.
  explicit FileCache(size_t capacity, size_t small_max = 0, size_t small_budget = 0)
      : capacity_(std::max<size_t>(1, capacity)),
        small_max_(small_max),
        small_budget_(small_budget) {}
  size_t small_bytes() const { return small_held_->load(); }  // file bytes held in memory
  // The open file at path (NotFound when it does not exist).
  Result<std::shared_ptr<const SharedFile>> Open(const std::string& path);
  size_t open_count() const;  // files in the cache that are still open

 private:
  struct Slot {
    std::weak_ptr<const SharedFile> file;
    std::list<std::pair<std::string, std::shared_ptr<const SharedFile>>>::iterator lru;
    bool in_lru = false;
  };
  void Touch(const std::string& path, Slot* slot, std::shared_ptr<const SharedFile> f);
  const size_t capacity_;
  const size_t small_max_, small_budget_;
  std::shared_ptr<std::atomic<size_t>> small_held_ = std::make_shared<std::atomic<size_t>>(0);
  mutable std::mutex mu_;
  std::unordered_map<std::string, Slot> slots_;  // GUARDED_BY(mu_)
  // Most recently used first; holds the files that stay open with no response using them.
  std::list<std::pair<std::string, std::shared_ptr<const SharedFile>>> lru_;  // GUARDED_BY(mu_)
};

struct OpenArtifact {
  ChunkId manifest_id;
  Manifest manifest;
  std::vector<std::string> stored_paths;  // one per chunk: its file as stored
  std::vector<uint8_t> zstd;  // per chunk: 1 if its file is a zstd frame, 0 if raw bytes
  std::string sha_prefix;                                  // 32 hex digits of the SHA-256
  std::string name;  // the manifest's "name" meta ("" when none), shown in /status
  bool all_zstd = true;   // every chunk file is a zstd frame
  bool all_raw = true;    // every chunk file is raw bytes
  // Per Derived kind: every chunk's derived file has been seen, so DerivedCache::Ensure skips
  // looking for them on each request (they are only removed with their chunks).
  mutable std::atomic<bool> derived_seen[2] = {false, false};
};

// A caller's own copy of one ref's cache entry (stormwulfd keeps one per node and overlay kind),
// so that a hot path skips the cache's shared map; it expires when the entry it copied would.
struct ArtifactMemo {
  std::mutex mu;
  std::shared_ptr<const OpenArtifact> art;  // GUARDED_BY(mu)
  uint64_t checked_ms = 0;                  // GUARDED_BY(mu)
  uint64_t generation = 0;                  // GUARDED_BY(mu)
};

class ArtifactCache {
 public:
  ArtifactCache(Store* store, FileCache* files) : store_(store), files_(files) {}
  // NotFound if the ref does not exist; Corruption/IOError if its manifest or chunks can't be
  // opened.
  Result<std::shared_ptr<const OpenArtifact>> Get(const std::string& ref);
  // Get(ref), answered from *memo while it is fresh (memo holds what ref gave last time).
  Result<std::shared_ptr<const OpenArtifact>> Get(const std::string& ref, ArtifactMemo* memo);
  // The artifact that ref's manifest links to through meta `key` (an image's or imported
  // kernel's "kernel", an imported kernel's "modules"), resolved from the same manifest version
  // Get(ref) returns, so a kernel always comes with the modules it was imported with. NotFound
  // if the ref or the link does not exist.
  Result<std::shared_ptr<const OpenArtifact>> GetLinked(const std::string& ref,
                                                        const std::string& key);
  // The chunk files of art as stored, open (NotFound if gc has removed one since art was
  // resolved: the caller should resolve the ref again).
  Result<std::vector<std::shared_ptr<const SharedFile>>> StoredFiles(const OpenArtifact& art);
  // Forgets every cached ref (SIGHUP).
  void Invalidate();
  Result<std::shared_ptr<const OpenArtifact>> Open(const ChunkId& manifest_id);

 private:
  struct Entry {
    std::shared_ptr<const OpenArtifact> art;
    uint64_t checked_ms = 0;  // when the ref was last read (monotonic ms)
    uint64_t generation = 0;  // the store's refs generation, read before the ref was
  };
  // A ref read less than kRecheckMs ago is current. After that it still is while the store's
  // refs generation (Store::RefsGeneration, itself read at most once per kRecheckMs) has not
  // moved, up to kMaxAgeMs: 10,000 nodes' refs cost one read a second, not 10,000.
  static constexpr uint64_t kRecheckMs = 1000;
  static constexpr uint64_t kMaxAgeMs = 30000;
  static constexpr uint64_t kNoGeneration = ~uint64_t{0};
  bool Current(uint64_t checked_ms, uint64_t generation, uint64_t now_ms);
  Result<Entry> GetEntry(const std::string& ref);
  Store* store_;
  FileCache* files_;
  std::mutex generation_mu_;  // one reader of the generation file at a time
  std::atomic<uint64_t> generation_{kNoGeneration};
  std::atomic<uint64_t> generation_read_ms_{0};
  std::mutex open_mu_;  // serializes resolving and opening (single flight)
  std::mutex mu_;
  std::unordered_map<std::string, Entry> refs_;  // GUARDED_BY(mu_)
};

enum class Derived { kGzip, kRaw };

class DerivedCache {
 public:
  DerivedCache(Store* store, FileCache* files, int workers);
  ~DerivedCache();
  using Done = std::function<void(Result<std::vector<std::shared_ptr<const SharedFile>>>)>;
  // Calls done with one open file per chunk in the requested encoding: at once (on this thread)
  // when all exist, else from a worker thread once they are built.
  void Ensure(const std::shared_ptr<const OpenArtifact>& art, Derived kind, Done done);
  uint64_t builds() const { return builds_.load(); }
  std::string PathFor(const ChunkId& id, Derived kind) const;

 private:
  struct Request;
  void Build(const ChunkId& id, Derived kind, const std::string& src_path);
  void Finish(const std::shared_ptr<Request>& r);
  Store* store_;
  FileCache* files_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // GUARDED_BY(mu_)
  // Single flight: requests waiting for a chunk's derived file, keyed by "<kind><id>".
  std::map<std::string, std::vector<std::shared_ptr<Request>>> waiting_;  // GUARDED_BY(mu_)
  bool stop_ = false;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> builds_{0};
};

// Opens a file read-only as a SharedFile (size from fstat).
Result<std::shared_ptr<const SharedFile>> OpenShared(const std::string& path);

}  // namespace sw
