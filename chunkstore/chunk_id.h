// chunkstore/chunk_id.h: ChunkId, the 128-bit content address of a chunk or manifest.
//
// A ChunkId is XXH3-128 of the *uncompressed* bytes it names, so re-encoding a chunk (zstd level,
// raw vs zstd) never changes its id. XXH3 is not a cryptographic hash: ids are only trusted
// because ingest is trusted; every artifact also carries a SHA-256 that the agent, `swctl store
// fsck` and `swctl image export` verify (docs/architecture.md, "Why XXH3 ids").
// Text form: 32 lower-case hex digits, big-endian (the canonical XXH128 byte order).
// Thread-safety: a value type.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/fd.h"

namespace sw {

struct ChunkId {
  std::array<uint8_t, 16> bytes{};

  std::string Hex() const;
  // Parses 32 hex digits; nullopt on anything else.
  static std::optional<ChunkId> FromHex(std::string_view hex);
  // XXH3-128 of data, in canonical byte order.
  static ChunkId Of(ByteSpan data);
  static ChunkId Of(std::string_view data) {
    return Of(ByteSpan(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  }
  bool IsZero() const;

  auto operator<=>(const ChunkId&) const = default;
  bool operator==(const ChunkId&) const = default;
};

// Incremental XXH3-128 for data that arrives in pieces (e.g. a segment assembled from files).
class ChunkHasher {
 public:
  ChunkHasher();
  ~ChunkHasher();
  ChunkHasher(const ChunkHasher&) = delete;
  ChunkHasher& operator=(const ChunkHasher&) = delete;
  void Update(ByteSpan data);
  void Update(std::string_view data) {
    Update(ByteSpan(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  }
  ChunkId Finish() const;
  void Reset();

 private:
  void* state_;  // XXH3_state_t*
};

struct ChunkIdHash {
  size_t operator()(const ChunkId& id) const {
    size_t h;
    std::memcpy(&h, id.bytes.data(), sizeof(h));
    return h;
  }
};

}  // namespace sw
