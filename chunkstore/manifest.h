// chunkstore/manifest.h: the manifest of an artifact (image, kernel, overlay, module layer).
//
// A manifest lists, in order, the chunks whose uncompressed bytes concatenated form the artifact's
// raw stream (for an image: a sequence of complete newc archives, one per segment), plus the
// SHA-256 of that whole stream. Manifests are content-addressed: a manifest's id is
// ChunkId::Of(Encode()). The byte layout is in docs/formats/manifest.md.
// Thread-safety: a value type.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chunkstore/chunk_id.h"
#include "common/status.h"

namespace sw {

enum class ArtifactKind : uint8_t { kImage = 1, kKernel = 2, kOverlay = 3, kModules = 4 };
const char* ArtifactKindName(ArtifactKind k);

// How a chunk file's bytes are encoded. Self-describing on disk: a file starting with the zstd
// frame magic 28 B5 2F FD is zstd; anything else is raw (a raw chunk whose bytes would start with
// that magic is always stored as zstd instead). The manifest records what ingest wrote; the
// chunk file is authoritative (`swctl store optimize` may re-encode it later).
enum class ChunkEncoding : uint8_t { kRaw = 0, kZstd = 1 };

struct ManifestChunk {
  ChunkId id;
  uint64_t raw_size = 0;
  uint64_t stored_size = 0;  // at ingest time; informational (see ChunkEncoding)
  ChunkEncoding encoding = ChunkEncoding::kZstd;
};

struct Manifest {
  static constexpr uint16_t kVersion = 1;
  ArtifactKind kind = ArtifactKind::kImage;
  int64_t created_unix = 0;
  uint64_t total_raw_size = 0;              // == sum of chunks[i].raw_size
  std::array<uint8_t, 32> sha256{};         // SHA-256 of the whole raw stream
  std::vector<ManifestChunk> chunks;
  // Free-form metadata, kept sorted by key by Encode(). Well-known keys: "name", "source",
  // "kernel" (hex manifest id of the image's kernel), "kernel_version", "segments_new".
  std::vector<std::pair<std::string, std::string>> meta;

  std::optional<std::string_view> Meta(std::string_view key) const;
  void SetMeta(std::string_view key, std::string_view value);

  // Deterministic encoding (meta sorted by key).
  std::string Encode() const;
  // Corruption on a bad magic, version, truncation, checksum or inconsistent sizes.
  static Result<Manifest> Decode(ByteSpan bytes);
  static Result<Manifest> Decode(std::string_view bytes) {
    return Decode(ByteSpan(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  }
  ChunkId Id() const { return ChunkId::Of(Encode()); }
  // Everything but created_unix equal: the same artifact made at another time. Callers that
  // re-make an artifact keep the older manifest then, so refs and Last-Modified do not move.
  bool SameContentAs(const Manifest& other) const;
  std::string Sha256Hex() const;
};

}  // namespace sw
