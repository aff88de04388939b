// chunkstore/maintenance.h: garbage collection, verification, recompression and statistics.
//
// Gc marks every chunk and manifest reachable from a ref (following an image manifest's "kernel"
// and "modules" meta to their manifests) and deletes the rest, plus derived encodings (.gz, raw
// cache) of deleted chunks and every temp file. It holds the store lock exclusively, so it waits
// for running writers (imports, overlay builds, optimize hold it shared) and never deletes a chunk
// that an unfinished writer has written but not yet referenced. It deletes only unreachable
// names, each with one unlink(2), so a crash at any point leaves every ref servable.
// Fsck re-hashes every chunk, checks every manifest's id and whole-stream SHA-256, reports
// dangling refs, stray temps and unknown files; repair removes only what is safe to remove.
// Optimize recompresses chunks at a high zstd level in place (same id: ids name raw bytes), each
// through temp + fsync + rename, so stormwulfd keeps serving (open fds keep the old inode).
// Thread-safety: each function may run while readers use the store; see the lock rules above.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "chunkstore/store.h"
#include "common/status.h"

namespace sw {

struct GcOptions {
  bool dry_run = false;
};
struct GcReport {
  uint64_t chunks_kept = 0;
  uint64_t chunks_removed = 0;
  uint64_t manifests_removed = 0;
  uint64_t derived_removed = 0;  // .gz and raw-cache files
  uint64_t temps_removed = 0;
  uint64_t bytes_freed = 0;
};
Result<GcReport> CollectGarbage(Store* store, const GcOptions& opts);

struct FsckOptions {
  bool repair = false;
  int threads = 0;  // 0 = one per core
};
struct FsckReport {
  std::vector<std::string> errors;    // the store is damaged
  std::vector<std::string> warnings;  // harmless leftovers (temps of killed writers, ...)
  std::vector<std::string> repaired;
  uint64_t chunks_checked = 0;
  uint64_t manifests_checked = 0;
  uint64_t refs_checked = 0;
  bool ok() const { return errors.empty(); }
};
Result<FsckReport> Fsck(Store* store, const FsckOptions& opts);

struct OptimizeReport {
  uint64_t chunks_seen = 0;
  uint64_t chunks_rewritten = 0;
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
};
Result<OptimizeReport> Optimize(Store* store, int level, int threads,
                                const std::function<void(uint64_t done, uint64_t total)>& progress);

// BuildGzipEncodings writes the compress=gz encoding (GzipSegmentMember) of every chunk that a ref
// reaches and that has none yet, next to the chunk (<id>.gz, temp + rename): the files
// stormwulfd would otherwise build on the first compress=gz requests, during a boot storm. Each
// chunk is verified against its id first. Holds the store lock shared, like an import.
// One chunk's .gz (verified first; nothing written for a chunk that does not hash to its id);
// its size. Shared with stormwulfd, which builds them on demand.
Result<uint64_t> WriteGzipEncoding(const Store& store, const ChunkId& id);
struct GzipReport {
  uint64_t chunks_live = 0;
  uint64_t built = 0;        // .gz files written now
  uint64_t bytes_built = 0;  // their size
};
Result<GzipReport> BuildGzipEncodings(Store* store, int threads,
                                      const std::function<void(uint64_t done, uint64_t total)>& progress);

struct StoreStats {
  uint64_t chunks = 0;
  uint64_t stored_bytes = 0;      // chunk files on disk (without derived encodings)
  uint64_t derived_bytes = 0;     // .gz and raw cache
  uint64_t logical_bytes = 0;     // sum over refs of artifact sizes
  uint64_t unique_raw_bytes = 0;  // raw bytes of distinct referenced chunks
  uint64_t manifests = 0;
  uint64_t refs = 0;
  double dedup_ratio = 0;         // logical / unique raw
  double compression_ratio = 0;   // unique raw / stored
};
Result<StoreStats> ComputeStats(Store* store);

}  // namespace sw
