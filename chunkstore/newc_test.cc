#include "chunkstore/newc.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/fs_util.h"

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

// Two segments whose hard-link groups both use inode 1: as continuations with distinct devs and
// one final trailer, the system cpio extracts them as one archive and keeps the groups apart.
TEST(NewcTest, ContinuationsExtractAsOneArchiveWithSeparateLinkGroups) {
  auto segment = [](const std::string& a, const std::string& b, const std::string& data) {
    std::string out;
    NewcHeader h;
    h.ino = 1;
    h.mode = S_IFREG | 0644;
    h.nlink = 2;
    h.filesize = static_cast<uint32_t>(data.size());
    NewcAppendHeader(&out, h, a);
    out += data;
    NewcAppendPad(&out);
    h.filesize = 0;
    NewcAppendHeader(&out, h, b);
    NewcAppendTrailer(&out);
    return out;
  };
  auto c1 = NewcAsContinuation(segment("a1", "a2", "AAA"), 0x1111);
  auto c2 = NewcAsContinuation(segment("b1", "b2", "BBBB"), 0x2222);
  ASSERT_TRUE(c1.ok() && c2.ok());
  EXPECT_EQ(c1->find("TRAILER!!!"), std::string::npos);
  std::string stream = *c1 + *c2 + NewcTrailerArchive();
  size_t archives = 0;
  auto parsed = ParseNewc(stream, &archives);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(archives, 1u);
  ASSERT_EQ(parsed->size(), 4u);
  EXPECT_EQ((*parsed)[0].h.devminor, 0x1111u);
  std::string dir = ::testing::TempDir() + "/newc_cont_" + RandomHex(6);
  ASSERT_TRUE(MakeDirs(dir).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/in.cpio", stream, 0644, dir).ok());
  ASSERT_EQ(std::system(("cd " + dir + " && mkdir x && cd x && cpio -idm --quiet < ../in.cpio").c_str()), 0);
  auto read = [&](const std::string& f) {
    auto r = ReadFileToString(dir + "/x/" + f);
    return r.ok() ? *r : std::string("?");
  };
  EXPECT_EQ(read("a1"), "AAA");
  EXPECT_EQ(read("a2"), "AAA");
  EXPECT_EQ(read("b1"), "BBBB");
  EXPECT_EQ(read("b2"), "BBBB");
  EXPECT_FALSE(NewcAsContinuation("garbage", 1).ok());
  ASSERT_TRUE(RemoveTree(dir).ok());
}

}  // namespace sw
