#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/big_buffer.h"
#include "common/fd.h"
#include "common/fs_util.h"
#include "common/hex.h"
#include "common/json.h"
#include "common/lines.h"
#include "common/status.h"
#include "gtest/gtest.h"

namespace sw {
namespace {

TEST(StatusTest, OkIsFreeAndCodesRoundTrip) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.ToString(), "OK");
  Status nf = Status::NotFound("x");
  EXPECT_TRUE(nf.IsNotFound());
  EXPECT_EQ(nf.ToString(), "NotFound: x");
  Status copy = nf;
  EXPECT_EQ(copy.message(), "x");
  EXPECT_EQ(nf.WithContext("ctx").ToString(), "NotFound: ctx: x");
  EXPECT_TRUE(FromErrno("open", ENOSPC).IsNoSpace());
  EXPECT_TRUE(FromErrno("open", ENOENT).IsNotFound());
}

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("odd");
  return x / 2;
}

Status UseHalf(int x, int* out) {
  SW_ASSIGN_OR_RETURN(int h, Half(x));
  *out = h;
  return Status::OK();
}

TEST(ResultTest, ValueAndError) {
  int out = 0;
  EXPECT_TRUE(UseHalf(8, &out).ok());
  EXPECT_EQ(out, 4);
  EXPECT_TRUE(UseHalf(3, &out).IsInvalidArgument());
}

TEST(HexTest, RoundTrip) {
  uint8_t in[3] = {0x00, 0xab, 0xff};
  std::string h = HexEncode(in, 3);
  EXPECT_EQ(h, "00abff");
  uint8_t out[3];
  ASSERT_TRUE(HexDecode("00ABff", out, 3));
  EXPECT_EQ(out[1], 0xab);
  EXPECT_FALSE(HexDecode("00zz11", out, 3));
  EXPECT_FALSE(HexDecode("00", out, 3));
}

TEST(FsUtilTest, AtomicWriteAndPaths) {
  std::string dir = ::testing::TempDir() + "/fsutil_" + RandomHex(4);
  ASSERT_TRUE(MakeDirs(dir + "/a/b").ok());
  std::string f = dir + "/a/b/file";
  ASSERT_TRUE(WriteFileAtomic(f, "hello").ok());
  ASSERT_TRUE(WriteFileAtomic(f, "world", 0600).ok());
  auto r = ReadFileToString(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "world");
  struct stat st;
  ASSERT_EQ(stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto names = ListDir(dir + "/a/b");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), 1u);  // no temp file left behind
  EXPECT_EQ(DirName("/x/y/z"), "/x/y");
  EXPECT_EQ(BaseName("/x/y/z"), "z");
  EXPECT_EQ(JoinPath("a/", "/b"), "a/b");
  EXPECT_TRUE(ReadFileToString(dir + "/nope").status().IsNotFound());
  const std::string target(300, 't');  // longer than a short fixed buffer would hold
  ASSERT_EQ(symlink(target.c_str(), (dir + "/link").c_str()), 0);
  auto link = ReadSymlink(dir + "/link");
  ASSERT_TRUE(link.ok()) << link.status().ToString();
  EXPECT_EQ(*link, target);
  EXPECT_TRUE(ReadSymlink(dir + "/nope").status().IsNotFound());
  EXPECT_FALSE(ReadSymlink(f).ok()) << "a regular file is not a symlink";
  // Relative to an open directory: the listing leaves the descriptor usable (twice, same names).
  UniqueFd dfd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dfd);
  auto first = ListDir(dfd.get(), dir), second = ListDir(dfd.get(), dir);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->size(), 2u);  // a, link
  EXPECT_EQ(*first, *second);
  auto rel = ReadSymlink("link", dfd.get());
  ASSERT_TRUE(rel.ok()) << rel.status().ToString();
  EXPECT_EQ(*rel, target);
  ASSERT_TRUE(RemoveTree(dir).ok());
  EXPECT_NE(stat(dir.c_str(), &st), 0);
}

}  // namespace
}  // namespace sw

namespace sw {
namespace {
TEST(JsonEscapeTest, EscapesQuotesBackslashesAndControlBytes) {
  EXPECT_EQ(JsonEscape("a\"b\\c\n\t\x01\xc3\xa9"), "a\\\"b\\\\c\\n\\t\\u0001\xc3\xa9");
  EXPECT_EQ(JsonEscape(""), "");
}
TEST(LinesTest, EveryLineOnceWithoutItsNewline) {
  auto lines = [](std::string_view text) {
    std::vector<std::string> out;
    ForEachLine(text, [&](std::string_view l) { out.emplace_back(l); });
    return out;
  };
  EXPECT_EQ(lines(""), std::vector<std::string>{});
  EXPECT_EQ(lines("\n"), std::vector<std::string>{""});
  EXPECT_EQ(lines("a\nb"), (std::vector<std::string>{"a", "b"}));  // a last line without \n
  EXPECT_EQ(lines("a\n\nb\n"), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(lines("a\r\n"), std::vector<std::string>{"a\r"});
}

TEST(BigBufferTest, GrowsKeepingItsBytesAndIsReusedWithoutShrinking) {
  BigBuffer b;
  EXPECT_EQ(b.size(), 0u);
  EXPECT_TRUE(b.Append("head:"));  // small: heap memory, no huge page for five bytes
  EXPECT_GE(b.capacity(), 5u);
  EXPECT_LT(b.capacity(), 1u << 20);
  std::string big(3u << 20, 'x');
  big[12345] = 'y';
  EXPECT_TRUE(b.Append(big));  // grows from the heap into a mapping: the head is copied along
  EXPECT_EQ(b.size(), 5 + big.size());
  EXPECT_EQ(b.view().substr(0, 5), "head:");
  EXPECT_EQ(b.view().substr(5), big);
  EXPECT_EQ(b.capacity(), 4u << 20);  // whole huge pages, 2 MiB aligned
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % (2u << 20), 0u);

  const uint8_t* mem = b.data();
  size_t cap = b.capacity();
  b.Clear();  // keeps the memory for the next segment
  EXPECT_TRUE(b.Resize(1000));
  EXPECT_EQ(b.data(), mem);
  EXPECT_EQ(b.capacity(), cap);
  EXPECT_EQ(b.size(), 1000u);

  BigBuffer moved = std::move(b);
  EXPECT_EQ(moved.data(), mem);
  EXPECT_EQ(b.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(b.capacity(), 0u);
  b = std::move(moved);
  EXPECT_EQ(b.data(), mem);
  EXPECT_TRUE(b.Append(""));
  EXPECT_EQ(b.size(), 1000u);
}

}  // namespace
}  // namespace sw
