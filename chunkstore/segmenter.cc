#include "chunkstore/segmenter.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <string>

namespace sw {

uint64_t EntryFingerprint(std::string_view path, uint32_t mode, uint32_t uid, uint32_t gid,
                          int64_t mtime, uint64_t size, uint32_t rdev_major, uint32_t rdev_minor,
                          std::string_view symlink_target) {
  XXH3_state_t st;
  XXH3_64bits_reset(&st);
  XXH3_64bits_update(&st, path.data(), path.size());
  const uint64_t meta[7] = {mode, uid, gid, static_cast<uint64_t>(mtime), size, rdev_major,
                            rdev_minor};
  XXH3_64bits_update(&st, meta, sizeof(meta));
  XXH3_64bits_update(&st, symlink_target.data(), symlink_target.size());
  return XXH3_64bits_digest(&st);
}

bool CutAfter(uint64_t fp, uint64_t unit_bytes, const SegmenterOptions& o) {
  if (unit_bytes >= o.target_bytes) return true;
  // threshold = 2^64 * bytes / target, computed without overflow.
  unsigned __int128 threshold =
      (static_cast<unsigned __int128>(unit_bytes) << 64) / o.target_bytes;
  return static_cast<unsigned __int128>(fp) < threshold;
}

}  // namespace sw
