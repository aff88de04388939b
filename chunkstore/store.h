// chunkstore/store.h: the on-disk content-addressed store: chunk files, manifests and refs.
//
// Layout under the store root (docs/formats/store.md has every file's format):
//   chunks/<hex[0:2]>/<hex>        one chunk: a zstd frame or raw bytes (self-describing)
//   chunks/<hex[0:2]>/<hex>.gz     optional second encoding: one gzip member of the raw bytes
//   manifests/<hex[0:2]>/<hex>     one encoded Manifest; <hex> = ChunkId::Of(file bytes)
//   refs/<kind>/<name...>          "<manifest hex>\n"; e.g. refs/images/rocky9,
//                                  refs/kernels/rocky9, refs/overlays/n0001/system
//   packed-refs                    many refs in one file (written by large batches: the overlay
//                                  build of thousands of nodes); a loose ref file shadows it
//   packed-refs.lock               flock(2) serializing rewrites of packed-refs
//   tmp/                           temp files of writers in progress (removed by gc/fsck --repair)
//   lock                           flock(2): writers (ingest, overlay build, optimize) hold it
//                                  shared, gc holds it exclusive, so gc never deletes a chunk an
//                                  unfinished writer may still reference.
// Every file is written to an O_EXCL temp file, made durable, then renamed into place, so a crash
// at any point leaves either the old or the new version of every name (plus collectable temps).
//
// Thread-safety: a Store may be used from many threads at once; ChunkBatch::Add is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "chunkstore/chunk_id.h"
#include "chunkstore/manifest.h"
#include "common/fd.h"
#include "common/status.h"

namespace sw {

struct StoreOptions {
  bool create = false;  // create the layout if the root does not exist / is empty
};

// Held for the life of the object; releases the flock on destruction.
class StoreLock {
 public:
  StoreLock() = default;
  explicit StoreLock(UniqueFd fd) : fd_(std::move(fd)) {}
  bool held() const { return fd_.valid(); }

 private:
  UniqueFd fd_;
};

class Store {
 public:
  // NotFound if root is not a store and !opts.create; InvalidArgument if root exists but is not
  // a store directory.
  static Result<std::unique_ptr<Store>> Open(const std::string& root, const StoreOptions& opts);
  // The store directory from --store, else $STORMWULF_STORE, else /var/lib/stormwulf/store.
  static std::string DefaultRoot(const std::string& flag_value);

  const std::string& root() const { return root_; }
  std::string ChunkPath(const ChunkId& id) const;
  std::string GzChunkPath(const ChunkId& id) const;
  std::string ManifestPath(const ChunkId& id) const;
  std::string RefPath(std::string_view ref) const;
  std::string TmpDir() const;

  // ---- chunks
  Result<bool> HasChunk(const ChunkId& id) const;
  // Durable, idempotent single put (temp + fsync + rename + fsync dir). For many chunks use
  // ChunkBatch, which syncs once per batch.
  Status PutChunk(const ChunkId& id, ByteSpan stored);
  // The stored bytes as they are on disk. NotFound if absent.
  Result<std::string> ReadChunkStored(const ChunkId& id) const;
  // The raw bytes; with verify, Corruption unless they hash to id.
  Result<std::string> ReadChunkRaw(const ChunkId& id, bool verify) const;

  // ---- manifests
  // Writes the manifest durably (idempotent) and returns its id.
  Result<ChunkId> PutManifest(const Manifest& m);
  // Reads and decodes; Corruption if the file does not hash to id or does not decode.
  Result<Manifest> GetManifest(const ChunkId& id) const;
  Result<bool> HasManifest(const ChunkId& id) const;

  // ---- refs. A ref name is "<kind>/<name>[/<sub>...]": components match [A-Za-z0-9._:@+-]+,
  // are not "." or "..", and the kind is one of images, kernels, overlays, modules.
  static Status ValidateRefName(std::string_view ref);
  // Atomically points ref at a manifest (temp + fsync + rename + fsync dir): a loose ref file,
  // which takes precedence over packed-refs.
  Status SetRef(std::string_view ref, const ChunkId& manifest);
  // Points many refs at once by rewriting packed-refs (one file, one fsync, one rename), then
  // removes loose files of the same names so that they no longer shadow the new values. All
  // names are validated first; nothing changes on InvalidArgument. A crash leaves every ref at
  // its old or its new value.
  Status SetRefsPacked(const std::vector<std::pair<std::string, ChunkId>>& refs);
  // The loose ref if there is one, else the packed one. Corruption for a damaged packed-refs.
  Result<ChunkId> GetRef(std::string_view ref) const;
  // NotFound if absent. Removes empty parent directories under refs/.
  Status DeleteRef(std::string_view ref);
  // Deletes every ref named that exists (loose and packed; packed-refs rewritten once) and
  // returns how many existed.
  Result<size_t> DeleteRefs(const std::vector<std::string>& refs);
  // All refs whose name starts with prefix ("" for all), sorted by name.
  Result<std::vector<std::pair<std::string, ChunkId>>> ListRefs(std::string_view prefix) const;
  // A counter in <store>/refs-generation that every ref change made through Store (SetRef,
  // SetRefsPacked, DeleteRef(s), ChunkBatch::Commit) increases once the change is in place. A
  // reader that read value G before reading a ref may keep what it read while the counter
  // still says G: stormwulfd checks it once a second instead of re-reading thousands of refs.
  // 0 when the file does not exist. A writer killed between its change and the increase leaves
  // the counter behind, so readers must still re-read refs now and then.
  Result<uint64_t> RefsGeneration() const;

  // ---- locking (see the header comment). Blocking.
  Result<StoreLock> LockShared() const;
  Result<StoreLock> LockExclusive() const;
  // Non-blocking variant of LockExclusive: Unavailable if a writer holds the lock.
  Result<StoreLock> TryLockExclusive() const;

 private:
  using PackedRefs = std::map<std::string, ChunkId, std::less<>>;
  explicit Store(std::string root) : root_(std::move(root)) {}
  // packed-refs as it is on disk now: parsed again only when the file changed (inode, size or
  // mtime), so GetRef stays cheap for stormwulfd, which re-resolves refs every second.
  Result<std::shared_ptr<const PackedRefs>> LoadPackedRefs() const;
  // Under packed-refs.lock: reads packed-refs, applies `edit`, and writes it back atomically
  // when edit returns true.
  Status EditPackedRefs(const std::function<bool(PackedRefs*)>& edit);
  // Unlinks a loose ref file (false if there was none) and its now-empty parent directories.
  Result<bool> UnlinkLooseRef(std::string_view ref);
  // Increases the refs generation (under an flock of its file). A failure is only logged: the
  // refs already changed, and readers re-read refs within their maximum age anyway.
  void BumpRefsGeneration();
  friend class ChunkBatch;

  std::string root_;
  mutable std::mutex packed_mu_;
  mutable std::shared_ptr<const PackedRefs> packed_;  // GUARDED_BY(packed_mu_)
  mutable std::string packed_key_;                    // GUARDED_BY(packed_mu_): ino:size:mtime
};

// Writes many chunks, manifests and refs with a fixed number of durability barriers instead of
// fsyncs per file: Add() writes each new chunk to a temp file under tmp/ (skipping chunks already
// in the store or already added), AddManifest() stages a manifest the same way, SetRef() records a
// ref switch. Commit() makes chunks and manifests durable (one syncfs), renames the chunks into
// place and fsyncs their directories, then the manifests likewise, and only then writes the refs
// (loose: temps, one syncfs, renames, directory fsyncs; many: one packed-refs rewrite). So after
// a crash at any point a ref names either its old manifest or a new one whose manifest and
// chunks are all on disk. Until Commit() nothing is visible; the destructor removes the temps of
// an uncommitted batch.
// Thread-safety: Add(), AddManifest(), SetRef() and Staged() may be called from many threads;
// Commit() once, after all of them.
class ChunkBatch {
 public:
  explicit ChunkBatch(Store* store);
  ~ChunkBatch();
  ChunkBatch(const ChunkBatch&) = delete;
  ChunkBatch& operator=(const ChunkBatch&) = delete;

  // Returns true when the chunk was new (written), false when it was already present.
  Result<bool> Add(const ChunkId& id, ByteSpan stored);
  // For chunks too large to hold in memory: the caller writes the stored bytes to NewTempPath()
  // and then hands the file over with AdoptTemp (which deletes it when the chunk is a duplicate).
  std::string NewTempPath();
  Result<bool> AdoptTemp(const ChunkId& id, const std::string& temp_path, uint64_t stored_size);
  // The stored size of a chunk this batch holds as a new chunk (written by Add or AdoptTemp);
  // nullopt otherwise. Lets builders that share a batch skip compressing a chunk twice.
  std::optional<uint64_t> Staged(const ChunkId& id);
  // Stages a manifest (visible at Commit, after the chunks); returns its id.
  Result<ChunkId> AddManifest(const Manifest& m);
  // Points `ref` at `manifest` at Commit, after chunks and manifests are durable. The last call
  // for a ref wins. InvalidArgument for a bad ref name.
  Status SetRef(std::string_view ref, const ChunkId& manifest);
  // A batch with at least this many refs writes them into packed-refs (Store::SetRefsPacked),
  // a smaller one as loose ref files.
  static constexpr size_t kPackRefsFrom = 16;
  Status Commit();

  uint64_t new_chunks() const { return new_chunks_.load(); }
  uint64_t new_stored_bytes() const { return new_bytes_.load(); }

 private:
  Store* store_;
  std::string dir_;  // tmp/batch-<random>
  std::mutex mu_;
  std::unordered_set<ChunkId, ChunkIdHash> added_;      // GUARDED_BY(mu_)
  std::vector<std::pair<std::string, ChunkId>> temps_;  // GUARDED_BY(mu_)
  std::unordered_map<ChunkId, uint64_t, ChunkIdHash> staged_;  // GUARDED_BY(mu_): new -> size
  std::vector<std::pair<std::string, ChunkId>> manifest_temps_;  // GUARDED_BY(mu_)
  std::unordered_set<ChunkId, ChunkIdHash> manifests_;           // GUARDED_BY(mu_)
  std::map<std::string, ChunkId> refs_;                          // GUARDED_BY(mu_)
  std::atomic<uint64_t> new_chunks_{0};
  std::atomic<uint64_t> new_bytes_{0};
  bool committed_ = false;
};

}  // namespace sw
