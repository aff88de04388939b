#include "chunkstore/chunk_id.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "chunkstore/chunk_id_avx2.h"
#include "common/hex.h"
#include "common/log.h"

namespace sw {

std::string ChunkId::Hex() const { return HexEncode(bytes.data(), bytes.size()); }

std::optional<ChunkId> ChunkId::FromHex(std::string_view hex) {
  ChunkId id;
  if (!HexDecode(hex, id.bytes.data(), id.bytes.size())) {
    return std::nullopt;
  }
  return id;
}

namespace {
ChunkId FromHash(XXH128_hash_t h) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  ChunkId id;
  static_assert(sizeof(c.digest) == 16);
  std::memcpy(id.bytes.data(), c.digest, 16);
  return id;
}

#ifdef SW_XXH3_AVX2
// XXH3's AVX2 loop is about twice its SSE2 one (the baseline this file is built for); one check
// of the CPU, at first use.
bool HaveAvx2() {
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
}
#endif
}  // namespace

ChunkId ChunkId::Of(ByteSpan data) {
#ifdef SW_XXH3_AVX2
  if (HaveAvx2()) {
    ChunkId id;
    SwXxh3Avx2Oneshot(data.data(), data.size(), id.bytes.data());
    return id;
  }
#endif
  return FromHash(XXH3_128bits(data.data(), data.size()));
}

bool ChunkId::IsZero() const {
  for (uint8_t b : bytes) {
    if (b) return false;
  }
  return true;
}

ChunkHasher::ChunkHasher() : state_(XXH3_createState()) {
  CHECK(state_ != nullptr) << "out of memory";
  Reset();
}
ChunkHasher::~ChunkHasher() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }
void ChunkHasher::Update(ByteSpan data) {
#ifdef SW_XXH3_AVX2
  if (HaveAvx2()) return SwXxh3Avx2Update(state_, data.data(), data.size());
#endif
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data.data(), data.size());
}
ChunkId ChunkHasher::Finish() const {
  return FromHash(XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_)));
}
void ChunkHasher::Reset() { XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_)); }

}  // namespace sw
