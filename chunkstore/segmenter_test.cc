#include "chunkstore/segmenter.h"

#include <random>

#include "gtest/gtest.h"

namespace sw {
namespace {

TEST(SegmenterTest, ExpectedSegmentSizeTracksTarget) {
  SegmenterOptions o;
  std::mt19937_64 rng(42);
  // A realistic mix: many small files, some medium.
  uint64_t bytes = 0, cuts = 0;
  for (int i = 0; i < 200000; ++i) {
    uint64_t size = (rng() % 10 == 0) ? 20000 + rng() % 200000 : 200 + rng() % 8000;
    bytes += size;
    if (CutAfter(rng(), size, o)) ++cuts;
  }
  double avg = static_cast<double>(bytes) / static_cast<double>(cuts);
  EXPECT_GT(avg, o.target_bytes * 0.7);
  EXPECT_LT(avg, o.target_bytes * 1.3);
}

TEST(SegmenterTest, DecisionDependsOnlyOnTheUnit) {
  SegmenterOptions o;
  uint64_t fp = EntryFingerprint("usr/bin/ls", 0100755, 0, 0, 1700000000, 12345, 0, 0, "");
  EXPECT_EQ(fp, EntryFingerprint("usr/bin/ls", 0100755, 0, 0, 1700000000, 12345, 0, 0, ""));
  EXPECT_NE(fp, EntryFingerprint("usr/bin/ls", 0100755, 0, 0, 1700000001, 12345, 0, 0, ""));
  EXPECT_EQ(CutAfter(fp, 1000, o), CutAfter(fp, 1000, o));
  EXPECT_TRUE(CutAfter(0, 1, o));  // the smallest hash always cuts
  EXPECT_FALSE(CutAfter(~0ull, o.target_bytes - 1, o));
  EXPECT_TRUE(CutAfter(~0ull, o.target_bytes, o));
  EXPECT_TRUE(StandsAlone(o.large_bytes, o));
  EXPECT_FALSE(StandsAlone(o.large_bytes - 1, o));
}

}  // namespace
}  // namespace sw
