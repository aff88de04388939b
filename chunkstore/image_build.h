// chunkstore/image_build.h: turns a tree of entries into a boot-servable segmented artifact.
//
// The builder sorts entries (parents before children), synthesizes missing parent directories
// (0755 root:root), groups hard links, cuts the entry sequence into segments at content-defined
// points (docs/formats/image.md), writes each segment as one complete newc archive ending in
// TRAILER!!! with its own inode numbering, compresses new segments into single zstd frames in
// parallel, and commits chunks and the manifest durably. It never moves a ref: the caller does
// that after success, so a failed or killed build changes nothing visible.
// Thread-safety: BuildArtifact may run concurrently with other builds on the same Store.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "chunkstore/codec.h"
#include "chunkstore/manifest.h"
#include "chunkstore/store.h"
#include "chunkstore/tree.h"
#include "common/status.h"

namespace sw {

struct BuildProgress {
  uint64_t entries_done = 0;
  uint64_t entries_total = 0;
  uint64_t bytes_done = 0;  // raw bytes hashed so far
  uint64_t bytes_total = 0;
};

// SHA-256 states after given leading segments, shared by builds whose artifacts start with the
// same segments: every node's overlay (built with large_files_first) begins with its directories
// and the large files all nodes share, such as the .AllNodes hosts file. A build that finds the
// state for its first k segments continues from it instead of hashing those bytes again. Keyed by
// the ids and sizes of the leading segments; holds at most `max_entries` states.
// Thread-safe.
class Sha256PrefixCache {
 public:
  explicit Sha256PrefixCache(size_t max_entries = 4096) : max_(max_entries) {}
  // The key of `prefix` followed by one more segment.
  static ChunkId Extend(const ChunkId& prefix, const ManifestChunk& next);
  // Sets *into to the state after `key`'s segments; false when unknown.
  bool Lookup(const ChunkId& key, Sha256* into);
  void Insert(const ChunkId& key, const Sha256& state);
  uint64_t hits() const { return hits_.load(); }

 private:
  std::atomic<uint64_t> hits_{0};
  std::mutex mu_;
  std::unordered_map<ChunkId, std::unique_ptr<Sha256>, ChunkIdHash> states_;  // GUARDED_BY(mu_)
  size_t max_;
};

struct ImageBuildOptions {
  ArtifactKind kind = ArtifactKind::kImage;
  int zstd_level = 3;
  int threads = 0;  // 0 = one per core
  std::vector<std::pair<std::string, std::string>> meta;  // copied into the manifest
  // Directories the target is known to have and that must not be emitted, even as synthesized
  // parents: a layer unpacked over an image (the kernel-modules layer leaves out "lib") must not
  // carry an entry that would replace the image's own (the kernel's unpacker replaces a symlink
  // such as usr-merged "lib -> usr/lib" with an empty directory when an entry says "directory").
  std::vector<std::string> omit_dirs;
  // Files of at least this many bytes get a segment of their own (0 = the segmenter's defaults,
  // 1 MiB, and 4 MiB inside a package). The overlay build lowers it so that a file every node
  // shares (an `.AllNodes` hosts file grows with the cluster) is one deduplicated chunk instead of
  // being recompressed inside each node's segment: that keeps the build linear in the number of
  // nodes.
  uint64_t stand_alone_bytes = 0;
  // Overlay order: directories first, then the files that stand alone, then everything else
  // (parents still precede children). The nodes' overlays then start with the same segments and
  // each node's small files share one segment instead of being split around the large files:
  // one new chunk per node instead of three.
  bool large_files_first = false;
  // Optional, shared by many builds: see Sha256PrefixCache.
  Sha256PrefixCache* sha_prefix_cache = nullptr;
  // The manifest's creation time; 0 = now. A build of many artifacts passes one time so that
  // identical artifacts (two nodes' runtime overlays) get one manifest.
  int64_t created_unix = 0;
  // When set, chunks and the manifest are staged in this batch and become visible only at its
  // Commit() (many artifacts, one set of durability barriers: the overlay build); the caller
  // commits. When null, the build commits its own chunks and manifest before returning.
  ChunkBatch* batch = nullptr;
  // Called from the building thread, at most ~10 times a second, and once at the end.
  std::function<void(const BuildProgress&)> progress;
};

struct BuildResult {
  ChunkId manifest_id;
  Manifest manifest;
  uint64_t segments = 0;
  uint64_t segments_new = 0;      // chunks that were not in the store before
  uint64_t stored_bytes_new = 0;  // bytes of those chunks on disk
  uint64_t entries = 0;
};

// InvalidArgument naming the entry for: a bad path, a file >= 4 GiB, a hard-link group whose
// members differ, duplicate paths. IOError/NoSpace from reading sources or writing the store.
Result<BuildResult> BuildArtifact(Store* store, std::vector<TreeEntry> entries,
                                  const ImageBuildOptions& opts);

// Stores one blob (a kernel) as an artifact: chunked into <= 4 MiB pieces, each raw when zstd
// saves under 3%. The raw stream of the artifact is the blob itself.
Result<BuildResult> StoreBlob(Store* store, const std::string& path, ArtifactKind kind,
                              const std::vector<std::pair<std::string, std::string>>& meta);

// One gzip member (libdeflate level 6) of data.
std::string GzipMember(std::string_view data);
// The compress=gz form of one segment: its entries as a continuation of one cpio archive
// (NewcAsContinuation, dev from the chunk id) in one gzip member; a chunk that is not newc is
// gzipped as it is. A gz image is these members in order and then GzipTrailerMember().
std::string GzipSegmentMember(const ChunkId& id, std::string_view raw);
const std::string& GzipTrailerMember();

enum class ExportFormat { kZstd, kGzip, kNone };
// Writes the artifact to out_fd: kZstd = the stored zstd frames back to back (raw chunks are
// compressed on the fly), kGzip = GzipSegmentMember per chunk and the trailer member (a kernel:
// one plain gzip member per chunk), kNone = the raw stream. Verifies every chunk id and the whole
// stream's SHA-256; Corruption (and a partial output) otherwise.
Status ExportArtifact(const Store& store, const Manifest& m, ExportFormat format, int out_fd);

}  // namespace sw
