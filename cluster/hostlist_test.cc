#include "cluster/hostlist.h"

#include "gtest/gtest.h"

namespace sw {
namespace {

std::vector<std::string> X(std::string_view s) {
  auto r = ExpandHostlist(s);
  EXPECT_TRUE(r.ok()) << s << ": " << r.status().ToString();
  return r.ok() ? *r : std::vector<std::string>{};
}

TEST(HostlistTest, ExpandsRangesListsAndProducts) {
  EXPECT_EQ(X("n1"), (std::vector<std::string>{"n1"}));
  EXPECT_EQ(X("n[08-10]"), (std::vector<std::string>{"n08", "n09", "n10"}));
  EXPECT_EQ(X("n[1-3,7]"), (std::vector<std::string>{"n1", "n2", "n3", "n7"}));
  EXPECT_EQ(X("a,b[1-2],c"), (std::vector<std::string>{"a", "b1", "b2", "c"}));
  EXPECT_EQ(X("rack[1-2]n[01-02]"),
            (std::vector<std::string>{"rack1n01", "rack1n02", "rack2n01", "rack2n02"}));
  EXPECT_EQ(X("n[001-128]").size(), 128u);
  EXPECT_EQ(X("n[001-128]").back(), "n128");
  EXPECT_EQ(X("[1-2]x"), (std::vector<std::string>{"1x", "2x"}));
}

TEST(HostlistTest, RejectsMalformedInput) {
  for (const char* bad : {"n[1-3", "n1-3]", "n[3-1]", "n[a-b]", "n[]", "n[1-]", "", ",", "n[0-100000]",
                          "a[1-1000]b[1-1000]"}) {
    auto r = ExpandHostlist(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_TRUE(r.status().IsInvalidArgument()) << bad;
    }
  }
}

}  // namespace
}  // namespace sw
