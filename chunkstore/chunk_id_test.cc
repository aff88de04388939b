// ChunkId::Of and ChunkHasher take XXH3's AVX2 path on CPUs that have it; whichever path runs,
// the ids must be libxxhash's own XXH3-128 (the shared library, not our inlined builds), for
// every length class of XXH3 (0-16, 17-128, 129-240, long with and without a partial stripe)
// and for data fed in odd pieces.
#include <xxhash.h>

#include <cstring>
#include <string>

#include "chunkstore/chunk_id.h"
#include "gtest/gtest.h"

namespace sw {
namespace {

ChunkId Reference(const std::string& data) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits(data.data(), data.size()));
  ChunkId id;
  std::memcpy(id.bytes.data(), c.digest, 16);
  return id;
}

std::string Data(size_t n) {
  std::string s(n, '\0');
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (auto& ch : s) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    ch = static_cast<char>(x);
  }
  return s;
}

TEST(ChunkIdTest, OneShotMatchesLibxxhashAtEveryLengthClass) {
  const std::string big = Data((3 << 20) + 77);
  for (size_t n : {0, 1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241, 1023, 1024, 1025, 4096, 65536 + 13,
                   static_cast<int>(big.size())}) {
    std::string d = big.substr(0, n);
    EXPECT_EQ(ChunkId::Of(d), Reference(d)) << n;
  }
}

TEST(ChunkIdTest, IncrementalMatchesOneShot) {
  const std::string d = Data((1 << 20) + 4099);
  ChunkHasher h;
  for (size_t pos = 0, step = 1; pos < d.size(); pos += step, step = step * 3 % 70001 + 1) {
    h.Update(std::string_view(d).substr(pos, step));
  }
  EXPECT_EQ(h.Finish(), Reference(d));
  h.Reset();
  h.Update(std::string_view(d));
  EXPECT_EQ(h.Finish(), ChunkId::Of(d));
}

}  // namespace
}  // namespace sw
