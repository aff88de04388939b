#include "chunkstore/maintenance.h"

#include <fcntl.h>
#include <libdeflate.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "chunkstore/codec.h"
#include "chunkstore/image_build.h"
#include "common/fs_util.h"
#include "common/lines.h"

namespace sw {
namespace {

using IdSet = std::unordered_set<ChunkId, ChunkIdHash>;

struct ChunkFile {
  std::string path;
  ChunkId id;
  enum Kind { kChunk, kGz, kRaw, kUnknown } kind;
  uint64_t size;
};

// Every file under chunks/ and cache/raw/.
Result<std::vector<ChunkFile>> ListChunkFiles(const Store& store) {
  std::vector<ChunkFile> out;
  for (const char* base : {"/chunks", "/cache/raw"}) {
    std::string root = store.root() + base;
    auto dirs = ListDir(root);
    if (!dirs.ok()) {
      if (dirs.status().IsNotFound()) continue;
      return dirs.status();
    }
    for (const auto& d : *dirs) {
      auto names = ListDir(root + "/" + d);
      if (!names.ok()) continue;
      for (const auto& n : *names) {
        ChunkFile f;
        f.path = root + "/" + d + "/" + n;
        struct stat st;
        if (::lstat(f.path.c_str(), &st) != 0) continue;
        f.size = static_cast<uint64_t>(st.st_size);
        std::string hex = n.substr(0, 32);
        auto id = ChunkId::FromHex(hex);
        if (!id || hex.substr(0, 2) != d) {
          f.kind = ChunkFile::kUnknown;
        } else if (n.size() == 32) {
          f.kind = std::string_view(base) == "/chunks" ? ChunkFile::kChunk : ChunkFile::kRaw;
          f.id = *id;
        } else if (n.size() == 35 && n.compare(32, 3, ".gz") == 0) {
          f.kind = ChunkFile::kGz;
          f.id = *id;
        } else {
          f.kind = ChunkFile::kUnknown;
        }
        out.push_back(std::move(f));
      }
    }
  }
  return out;
}

Result<std::vector<std::pair<std::string, ChunkId>>> ListManifests(const Store& store) {
  std::vector<std::pair<std::string, ChunkId>> out;
  std::string root = store.root() + "/manifests";
  auto dirs = ListDir(root);
  if (!dirs.ok()) {
    if (dirs.status().IsNotFound()) return out;
    return dirs.status();
  }
  for (const auto& d : *dirs) {
    auto names = ListDir(root + "/" + d);
    if (!names.ok()) continue;
    for (const auto& n : *names) {
      auto id = ChunkId::FromHex(n);
      out.emplace_back(root + "/" + d + "/" + n, id ? *id : ChunkId{});
    }
  }
  return out;
}

// Manifests reachable from refs, following kernel/modules links, and their chunks. Missing
// manifests are reported in `dangling`. When the refs cannot be listed, or (for gc, which passes
// no `dangling`) a manifest exists but cannot be read, the live set is unknown: an error, so
// that gc deletes nothing rather than the chunks of a live artifact.
Status Mark(const Store& store, IdSet* manifests, IdSet* chunks,
            std::vector<std::string>* dangling) {
  SW_ASSIGN_OR_RETURN(auto todo, store.ListRefs(""));
  while (!todo.empty()) {
    auto [from, id] = todo.back();
    todo.pop_back();
    if (!manifests->insert(id).second) continue;
    auto m = store.GetManifest(id);
    if (!m.ok()) {
      std::string what = from + " -> manifest " + id.Hex() + ": " + m.status().ToString();
      if (dangling) {
        dangling->push_back(what);
      } else if (!m.status().IsNotFound()) {
        return Status::Corruption("cannot tell what is live (" + what +
                                  "); run `swctl store fsck`");
      }
      continue;
    }
    for (const auto& c : m->chunks) chunks->insert(c.id);
    for (const char* key : {"kernel", "modules"}) {
      if (auto v = m->Meta(key)) {
        if (auto link = ChunkId::FromHex(*v)) todo.emplace_back(from + " (" + key + ")", *link);
      }
    }
  }
  return Status::OK();
}

int Threads(int t) {
  return t > 0 ? t : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

template <typename Fn>
void ParallelFor(size_t n, int threads, Fn fn) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
    });
  }
  for (auto& t : pool) t.join();
}

}  // namespace

Result<GcReport> CollectGarbage(Store* store, const GcOptions& opts) {
  SW_ASSIGN_OR_RETURN(StoreLock lock, store->LockExclusive());
  GcReport r;
  IdSet live_manifests, live_chunks;
  SW_RETURN_IF_ERROR(Mark(*store, &live_manifests, &live_chunks, nullptr));
  auto remove = [&](const std::string& path, uint64_t size) {
    if (opts.dry_run || ::unlink(path.c_str()) == 0) r.bytes_freed += size;
  };
  // Unreachable manifests go first, then chunks: a crash in between leaves orphan chunks (the
  // next gc takes them), never a manifest whose chunks are gone.
  SW_ASSIGN_OR_RETURN(auto manifests, ListManifests(*store));
  for (const auto& [path, id] : manifests) {
    if (live_manifests.count(id)) continue;
    struct stat st;
    uint64_t size = ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    ++r.manifests_removed;
    remove(path, size);
  }
  SW_ASSIGN_OR_RETURN(auto files, ListChunkFiles(*store));
  for (const auto& f : files) {
    if (f.kind == ChunkFile::kUnknown) continue;  // not ours to delete; fsck reports it
    bool live = live_chunks.count(f.id) > 0;
    if (f.kind == ChunkFile::kChunk) {
      if (live) {
        ++r.chunks_kept;
        continue;
      }
      ++r.chunks_removed;
    } else {
      if (live) continue;
      ++r.derived_removed;
    }
    remove(f.path, f.size);
  }
  // No writer holds the lock now, so everything under tmp/ is a leftover of a killed one.
  auto temps = ListDir(store->TmpDir());
  if (temps.ok()) {
    for (const auto& n : *temps) {
      ++r.temps_removed;
      if (!opts.dry_run) (void)RemoveTree(store->TmpDir() + "/" + n);
    }
  }
  // Temps of ref and manifest writes live next to their targets ("<name>.tmp.<hex>").
  return r;
}

Result<FsckReport> Fsck(Store* store, const FsckOptions& opts) {
  FsckReport r;
  std::mutex mu;
  auto error = [&](std::string s) {
    std::lock_guard<std::mutex> l(mu);
    r.errors.push_back(std::move(s));
  };
  // Refs.
  IdSet live_manifests, live_chunks;
  std::vector<std::string> dangling;
  if (Status s = Mark(*store, &live_manifests, &live_chunks, &dangling); !s.ok()) {
    r.errors.push_back("refs: " + s.ToString());
  }
  for (auto& d : dangling) r.errors.push_back("dangling ref: " + d);
  if (auto refs = store->ListRefs(""); refs.ok()) r.refs_checked = refs->size();

  // Chunks: every file re-hashed.
  SW_ASSIGN_OR_RETURN(auto files, ListChunkFiles(*store));
  std::unordered_map<ChunkId, uint64_t, ChunkIdHash> raw_size;
  IdSet corrupt;
  ParallelFor(files.size(), Threads(opts.threads), [&](size_t i) {
    const ChunkFile& f = files[i];
    if (f.kind == ChunkFile::kUnknown) {
      std::lock_guard<std::mutex> l(mu);
      r.warnings.push_back("unknown file " + f.path);
      return;
    }
    auto bytes = ReadFileToString(f.path);
    if (!bytes.ok()) return error("cannot read " + f.path + ": " + bytes.status().ToString());
    ByteSpan span(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
    Result<std::string> raw = Status::Corruption("undecodable");
    if (f.kind == ChunkFile::kGz) {
      std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)> d(
          libdeflate_alloc_decompressor(), libdeflate_free_decompressor);
      // A gzip member ends with ISIZE, the raw length mod 2^32 (chunks are < 4 GiB).
      uint32_t isize = 0;
      for (size_t k = 0; k < 4 && bytes->size() >= 4; ++k) {
        isize |= static_cast<uint32_t>(static_cast<uint8_t>((*bytes)[bytes->size() - 4 + k])) << (8 * k);
      }
      std::string out(isize, '\0');
      size_t actual = 0;
      if (libdeflate_gzip_decompress(d.get(), bytes->data(), bytes->size(), out.data(), out.size(),
                                     &actual) == LIBDEFLATE_SUCCESS) {
        out.resize(actual);
        raw = std::move(out);
      }
    } else {
      raw = DecodeChunk(span);
    }
    bool good = raw.ok() && ChunkId::Of(*raw) == f.id;
    std::lock_guard<std::mutex> l(mu);
    ++r.chunks_checked;
    if (good) {
      if (f.kind == ChunkFile::kChunk) raw_size[f.id] = raw->size();
      return;
    }
    if (f.kind == ChunkFile::kChunk) {
      corrupt.insert(f.id);
      r.errors.push_back("corrupt chunk " + f.path);
    } else {
      r.warnings.push_back("bad derived encoding " + f.path + " (rebuilt on demand if removed)");
    }
    if (opts.repair && ::unlink(f.path.c_str()) == 0) r.repaired.push_back("removed " + f.path);
  });

  // Manifests: id, decoding, chunks present, whole-stream SHA-256.
  SW_ASSIGN_OR_RETURN(auto manifests, ListManifests(*store));
  ParallelFor(manifests.size(), Threads(opts.threads), [&](size_t i) {
    const auto& [path, id] = manifests[i];
    auto m = store->GetManifest(id);
    {
      std::lock_guard<std::mutex> l(mu);
      ++r.manifests_checked;
    }
    if (!m.ok()) return error("manifest " + path + ": " + m.status().ToString());
    if (!live_manifests.count(id)) {
      std::lock_guard<std::mutex> l(mu);
      r.warnings.push_back("unreferenced manifest " + id.Hex() + " (gc removes it)");
    }
    Sha256 sha;
    for (const auto& c : m->chunks) {
      auto raw = store->ReadChunkRaw(c.id, /*verify=*/false);
      if (!raw.ok()) {
        std::string what = "manifest " + id.Hex() + ": chunk " + c.id.Hex() + ": " +
                           raw.status().ToString();
        if (!live_manifests.count(id)) {  // garbage anyway: nothing can be served from it
          std::lock_guard<std::mutex> l(mu);
          r.warnings.push_back(what + " (unreferenced)");
          return;
        }
        return error(what);
      }
      sha.Update(ByteSpan(reinterpret_cast<const uint8_t*>(raw->data()), raw->size()));
    }
    if (sha.Finish() != m->sha256) error("manifest " + id.Hex() + ": SHA-256 of the artifact differs");
  });

  // Temp files of killed writers: harmless, reported, removed on repair when no writer runs.
  auto temps = ListDir(store->TmpDir());
  if (temps.ok() && !temps->empty()) {
    for (const auto& n : *temps) r.warnings.push_back("stray temp " + store->TmpDir() + "/" + n);
    if (opts.repair) {
      auto lock = store->TryLockExclusive();
      if (lock.ok()) {
        for (const auto& n : *temps) {
          if (RemoveTree(store->TmpDir() + "/" + n).ok()) r.repaired.push_back("removed temp " + n);
        }
      } else {
        r.warnings.push_back("a writer is running: temps left in place");
      }
    }
  }
  return r;
}

Result<OptimizeReport> Optimize(Store* store, int level, int threads,
                                const std::function<void(uint64_t, uint64_t)>& progress) {
  SW_ASSIGN_OR_RETURN(StoreLock lock, store->LockShared());
  OptimizeReport r;
  std::string state = store->root() + "/state/optimized-" + std::to_string(level);
  std::unordered_set<std::string> done;
  if (auto text = ReadFileToString(state); text.ok()) {
    ForEachLine(*text, [&](std::string_view line) {
      if (line.size() >= 32) done.insert(std::string(line.substr(0, 32)));
    });
  }
  SW_ASSIGN_OR_RETURN(auto files, ListChunkFiles(*store));
  std::vector<ChunkFile> todo;
  for (auto& f : files) {
    if (f.kind == ChunkFile::kChunk && !done.count(f.id.Hex())) todo.push_back(std::move(f));
  }
  std::mutex mu;
  std::atomic<uint64_t> n_done{0};
  Status failure;
  std::string appended;
  ParallelFor(todo.size(), Threads(threads), [&](size_t i) {
    const ChunkFile& f = todo[i];
    auto bytes = ReadFileToString(f.path);
    if (!bytes.ok()) return;
    ByteSpan span(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
    auto raw = DecodeChunk(span);
    if (!raw.ok() || ChunkId::Of(*raw) != f.id) return;  // fsck's business
    ByteSpan rspan(reinterpret_cast<const uint8_t*>(raw->data()), raw->size());
    bool was_raw = DetectEncoding(span) == ChunkEncoding::kRaw;
    EncodedChunk enc = EncodeChunk(rspan, level, /*allow_raw=*/was_raw);
    bool better = enc.stored.size() + enc.stored.size() / 100 < bytes->size();
    if (better) {
      std::string tmp = store->TmpDir() + "/opt." + f.id.Hex() + "." + RandomHex(4);
      UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      Status s = fd ? WriteAll(fd.get(), enc.stored.data(), enc.stored.size(), tmp)
                    : FromErrno("create " + tmp, errno);
      if (s.ok() && ::fsync(fd.get()) != 0) s = FromErrno("fsync " + tmp, errno);
      fd.Reset();
      // Same id, new encoding: readers holding the old file keep its inode.
      if (s.ok() && ::rename(tmp.c_str(), f.path.c_str()) != 0) s = FromErrno("rename " + tmp, errno);
      if (!s.ok()) {
        ::unlink(tmp.c_str());
        std::lock_guard<std::mutex> l(mu);
        if (failure.ok()) failure = s;
        return;
      }
    }
    std::lock_guard<std::mutex> l(mu);
    ++r.chunks_seen;
    r.bytes_before += bytes->size();
    r.bytes_after += better ? enc.stored.size() : bytes->size();
    if (better) ++r.chunks_rewritten;
    appended += f.id.Hex() + "\n";
    uint64_t d = ++n_done;
    if (progress) progress(d, todo.size());
  });
  SW_RETURN_IF_ERROR(failure);
  if (!todo.empty()) {
    SW_RETURN_IF_ERROR(FsyncDir(store->root() + "/chunks"));
    auto old = ReadFileToString(state);
    SW_RETURN_IF_ERROR(WriteFileAtomic(state, (old.ok() ? *old : "") + appended));
  }
  return r;
}

Result<uint64_t> WriteGzipEncoding(const Store& store, const ChunkId& id) {
  auto raw = store.ReadChunkRaw(id, /*verify=*/true);
  if (!raw.ok()) return raw.status().WithContext("chunk " + id.Hex());
  // Newc segments become continuations of one archive (image_build.h), so `gzip -d | cpio -i`
  // extracts a whole image; anything else (a kernel) is gzipped as it is.
  std::string gz = GzipSegmentMember(id, *raw);
  SW_RETURN_IF_ERROR(WriteFileAtomic(store.GzChunkPath(id), gz, 0644));
  return static_cast<uint64_t>(gz.size());
}

Result<GzipReport> BuildGzipEncodings(Store* store, int threads,
                                      const std::function<void(uint64_t, uint64_t)>& progress) {
  SW_ASSIGN_OR_RETURN(StoreLock lock, store->LockShared());
  IdSet manifests, chunks;
  std::vector<std::string> dangling;  // fsck's business; their chunks are simply not there
  SW_RETURN_IF_ERROR(Mark(*store, &manifests, &chunks, &dangling));
  GzipReport r;
  r.chunks_live = chunks.size();
  std::vector<ChunkId> todo;
  for (const auto& id : chunks) {
    if (::access(store->GzChunkPath(id).c_str(), F_OK) != 0) todo.push_back(id);
  }
  std::mutex mu;
  Status failure;
  uint64_t n_done = 0;
  ParallelFor(todo.size(), Threads(threads), [&](size_t i) {
    const ChunkId& id = todo[i];
    auto size = WriteGzipEncoding(*store, id);
    std::lock_guard<std::mutex> l(mu);
    if (!size.ok()) {
      if (failure.ok()) failure = size.status();
      return;
    }
    ++r.built;
    r.bytes_built += *size;
    if (progress) progress(++n_done, todo.size());
  });
  SW_RETURN_IF_ERROR(failure);
  return r;
}

Result<StoreStats> ComputeStats(Store* store) {
  StoreStats s;
  SW_ASSIGN_OR_RETURN(auto files, ListChunkFiles(*store));
  for (const auto& f : files) {
    if (f.kind == ChunkFile::kChunk) {
      ++s.chunks;
      s.stored_bytes += f.size;
    } else if (f.kind != ChunkFile::kUnknown) {
      s.derived_bytes += f.size;
    }
  }
  SW_ASSIGN_OR_RETURN(auto manifests, ListManifests(*store));
  s.manifests = manifests.size();
  SW_ASSIGN_OR_RETURN(auto refs, store->ListRefs(""));
  s.refs = refs.size();
  std::unordered_map<ChunkId, uint64_t, ChunkIdHash> unique;
  for (const auto& [name, id] : refs) {
    auto m = store->GetManifest(id);
    if (!m.ok()) continue;
    s.logical_bytes += m->total_raw_size;
    for (const auto& c : m->chunks) unique[c.id] = c.raw_size;
  }
  for (const auto& [id, n] : unique) s.unique_raw_bytes += n;
  if (s.unique_raw_bytes) {
    s.dedup_ratio = static_cast<double>(s.logical_bytes) / static_cast<double>(s.unique_raw_bytes);
  }
  if (s.stored_bytes) {
    s.compression_ratio =
        static_cast<double>(s.unique_raw_bytes) / static_cast<double>(s.stored_bytes);
  }
  return s;
}

}  // namespace sw
