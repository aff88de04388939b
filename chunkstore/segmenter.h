// chunkstore/segmenter.h: where an image's entry sequence is cut into segments.
//
// The rule is content-defined and *stateless*: whether there is a cut after a unit (an entry, or
// a hard-link group) depends only on that unit's own fingerprint and size, never on what came
// before. So inserting, changing or removing one unit can only (a) change the bytes of the
// segment holding it and (b) add or remove the cut right after it, merging or splitting that
// segment with its neighbour: at most two segment ids differ between the two versions.
//
//  - a unit of `large_bytes` or more stands alone (cut before and after it);
//  - otherwise there is a cut after it when  hash < 2^64 * min(1, bytes / target_bytes),
//    so the expected segment size is about target_bytes whatever the file-size mix: many small
//    files share a segment (good compression), a file near the target size often ends one.
// docs/formats/image.md has the measurements behind the defaults.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace sw {

struct SegmenterOptions {
  uint64_t target_bytes = 262144;
  uint64_t large_bytes = 1024 * 1024;
  // Inside a package's group (TreeEntry::group) the target and the stand-alone size: a package
  // is installed, upgraded and removed as a whole, so its segments can be larger (better
  // compression) without costing dedup. docs/formats/image.md "Package order" has the numbers.
  uint64_t group_target_bytes = 4 * 1024 * 1024;
  uint64_t group_large_bytes = 4 * 1024 * 1024;

  // The options that apply inside a package's group.
  SegmenterOptions InPackage() const {
    SegmenterOptions o = *this;
    o.target_bytes = group_target_bytes;
    o.large_bytes = group_large_bytes;
    return o;
  }
};

// Fingerprint of one entry for cut decisions: its path and metadata (not its content: a content
// change always comes with a new mtime or size in practice, and the rule only needs determinism).
uint64_t EntryFingerprint(std::string_view path, uint32_t mode, uint32_t uid, uint32_t gid,
                          int64_t mtime, uint64_t size, uint32_t rdev_major, uint32_t rdev_minor,
                          std::string_view symlink_target);

inline bool StandsAlone(uint64_t unit_bytes, const SegmenterOptions& o) {
  return unit_bytes >= o.large_bytes;
}

// True when the segment should end after this unit.
bool CutAfter(uint64_t unit_fingerprint, uint64_t unit_bytes, const SegmenterOptions& o);

}  // namespace sw
