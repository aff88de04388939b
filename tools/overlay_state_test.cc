#include "tools/overlay_state.h"

#include "common/fs_util.h"
#include "gtest/gtest.h"

namespace sw {
namespace {

class OverlayStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/ovstate_" + RandomHex(6);
    ASSERT_TRUE(MakeDirs(dir_).ok());
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(dir_).ok()); }
  std::string dir_;
};

TEST_F(OverlayStateTest, RoundTripsAndSharesDependencyLists) {
  auto empty = OverlayInputState::Load(dir_ + "/state/overlay-inputs");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();  // absent: empty, not an error
  EXPECT_EQ(empty->size(), 0u);

  OverlayInputState s;
  const std::vector<std::string> users = {"file\x1f/etc/passwd", "file\x1f/etc/group"};
  for (int i = 0; i < 3; ++i) {
    std::string node = "n" + std::to_string(i);
    s.Set(node, "system", {ChunkId::Of("sys" + node), ChunkId::Of("m-sys" + node), {}});
    s.Set(node, "runtime", {ChunkId::Of("rt" + node), ChunkId::Of("m-rt"), users});
  }
  const std::string path = dir_ + "/state/overlay-inputs";
  ASSERT_TRUE(s.Save(path).ok());
  std::string text = *ReadFileToString(path);
  EXPECT_EQ(text.rfind("stormwulf overlay inputs 1\n", 0), 0u);
  size_t lists = 0;
  for (size_t p = 0; (p = text.find("\nD ", p)) != std::string::npos; ++p) ++lists;
  EXPECT_EQ(lists, 2u);  // [] and the users list, each written once

  auto back = OverlayInputState::Load(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->size(), 6u);
  const OverlayInputRecord* r = back->Find("n1", "runtime");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->digest, ChunkId::Of("rtn1"));
  EXPECT_EQ(r->manifest, ChunkId::Of("m-rt"));
  EXPECT_EQ(r->deps, users);
  EXPECT_EQ(back->Find("n9", "runtime"), nullptr);

  back->Retain({"n0", "n2"});
  EXPECT_EQ(back->size(), 4u);
  EXPECT_EQ(back->Find("n1", "system"), nullptr);
}

TEST_F(OverlayStateTest, DamagedFileIsCorruption) {
  const std::string path = dir_ + "/overlay-inputs";
  for (const char* text : {"something else\n", "stormwulf overlay inputs 1\nN a\tb\tc\n",
                           "stormwulf overlay inputs 1\nD 0 \nN n\tsystem\txyz\txyz\t0\n",
                           "stormwulf overlay inputs 1\nD 1 \n"}) {
    ASSERT_TRUE(WriteFileAtomic(path, text).ok());
    auto s = OverlayInputState::Load(path);
    EXPECT_FALSE(s.ok()) << text;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), Status::Code::kCorruption) << text;
    }
  }
}

}  // namespace
}  // namespace sw
