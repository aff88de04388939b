#include "chunkstore/newc.h"

#include <sys/stat.h>

#include "gtest/gtest.h"

namespace sw {
namespace {

TEST(NewcTest, WriteParseRoundTrip) {
  std::string a;
  NewcHeader h;
  h.ino = 1;
  h.mode = S_IFREG | 0644;
  h.mtime = 1700000000;
  h.filesize = 5;
  NewcAppendHeader(&a, h, "etc/hosts");
  EXPECT_EQ(a.size() % 4, 0u);
  a += "hello";
  NewcAppendPad(&a);
  NewcHeader d;
  d.ino = 2;
  d.mode = S_IFDIR | 0755;
  d.nlink = 2;
  NewcAppendHeader(&a, d, "etc");
  NewcAppendTrailer(&a);
  EXPECT_EQ(a.size() % 4, 0u);
  EXPECT_EQ(a.compare(0, 6, "070701"), 0);
  EXPECT_EQ(NewcEntrySize(9, 5), 128u);  // 110 + 10 -> 120 (padded), + 5 -> 125 -> 128
  size_t archives = 0;
  std::string two = a + std::string(8, '\0') + a;  // entries' views point into it
  auto r = ParseNewc(two, &archives);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(archives, 2u);
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].name, "etc/hosts");
  EXPECT_EQ((*r)[0].data, "hello");
  EXPECT_EQ((*r)[0].h.mtime, 1700000000u);
  EXPECT_EQ((*r)[1].h.mode, static_cast<uint32_t>(S_IFDIR | 0755));
}

TEST(NewcTest, RejectsMalformed) {
  std::string a;
  NewcHeader h;
  h.mode = S_IFREG | 0644;
  h.filesize = 100;
  NewcAppendHeader(&a, h, "f");
  a += "short";
  EXPECT_TRUE(ParseNewc(a).status().IsCorruption());
  std::string b;
  NewcAppendHeader(&b, NewcHeader{}, "x");
  EXPECT_TRUE(ParseNewc(b).status().IsCorruption());  // no TRAILER
  std::string c = b;
  c[10] = 'Z';
  NewcAppendTrailer(&c);
  EXPECT_TRUE(ParseNewc(c).status().IsCorruption());  // bad hex
  EXPECT_TRUE(ParseNewc("070702" + std::string(200, '0')).status().IsCorruption());
}

}  // namespace
}  // namespace sw
