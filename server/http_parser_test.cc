#include "server/http_parser.h"
#include "server/http_server.h"

#include <string>

#include "gtest/gtest.h"

namespace sw {
namespace {

long Parse(const std::string& s, HttpRequest* r, HttpHeaderView* h) {
  return ParseRequestHead(s.data(), s.size(), r, h, 8);
}

TEST(HttpParserTest, IpxeRequestParsesInPlace) {
  std::string s =
      "GET /ipxe/52-54-00-12-34-56 HTTP/1.1\r\nConnection: keep-alive\r\n"
      "User-Agent: iPXE/1.0.0+git-20190125.36a4c85-5.1\r\nHost: 10.0.2.100\r\n\r\nGET /next";
  HttpRequest r;
  HttpHeaderView h[8];
  long n = Parse(s, &r, h);
  ASSERT_GT(n, 0);
  EXPECT_EQ(static_cast<size_t>(n), s.find("GET /next"));
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/ipxe/52-54-00-12-34-56");
  EXPECT_EQ(r.minor_version, 1);
  EXPECT_EQ(r.Header("host"), "10.0.2.100");
  EXPECT_EQ(r.Header("CONNECTION"), "keep-alive");
  EXPECT_EQ(r.num_headers, 3u);
  EXPECT_EQ(r.target.data(), s.data() + 4);  // a view into the buffer, no copy
}

TEST(HttpParserTest, PartialThenComplete) {
  std::string s = "GET / HTTP/1.0\r\nHost: x\r\n\r\n";
  HttpRequest r;
  HttpHeaderView h[8];
  for (size_t i = 0; i < s.size(); ++i) {
    EXPECT_EQ(ParseRequestHead(s.data(), i, &r, h, 8), kHeadIncomplete) << i;
  }
  EXPECT_EQ(Parse(s, &r, h), static_cast<long>(s.size()));
  EXPECT_EQ(r.minor_version, 0);
  EXPECT_GT(Parse("GET / HTTP/1.1\n\n", &r, h), 0);  // bare LF is accepted
}

TEST(HttpParserTest, MalformedHeadsAreRejected) {
  HttpRequest r;
  HttpHeaderView h[8];
  for (const char* bad : {"GET\r\n\r\n", "GET /\r\n\r\n", "GET / HTTP/2.0\r\n\r\n",
                          "G@T / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
                          "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
                          "GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
                          "GET /a\x01 HTTP/1.1\r\n\r\n"}) {
    EXPECT_EQ(Parse(bad, &r, h), kHeadBad) << bad;
  }
  std::string nul = std::string("GET / HTTP/1.1\r\nA: b") + '\0' + "c\r\n\r\n";
  EXPECT_EQ(Parse(nul, &r, h), kHeadBad);
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 9; ++i) many += "H" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(Parse(many + "\r\n", &r, h), kHeadTooManyHeaders);
}

TEST(HttpParserTest, HelpersForPathsQueriesDatesRanges) {
  char p[] = "//ipxe///aa//bb";
  EXPECT_EQ(std::string(p, CollapseSlashes(p, sizeof(p) - 1)), "/ipxe/aa/bb");
  HttpRequest r;
  r.query = "wwid=aa%3Abb&assetkey=a+b&compress=gz&x";
  std::string v;
  ASSERT_TRUE(r.QueryParam("wwid", &v));
  EXPECT_EQ(v, "aa:bb");
  ASSERT_TRUE(r.QueryParam("assetkey", &v));
  EXPECT_EQ(v, "a b");
  EXPECT_FALSE(r.QueryParam("stage", &v));
  EXPECT_EQ(ParseHttpDate(HttpDate(1700000000)), 1700000000);
  EXPECT_EQ(ParseHttpDate("yesterday"), -1);
  ByteRange br;
  EXPECT_EQ(ParseRange("bytes=0-0", 10, &br), RangeResult::kSatisfiable);
  EXPECT_EQ(br.last, 0u);
  EXPECT_EQ(ParseRange("bytes=-3", 10, &br), RangeResult::kSatisfiable);
  EXPECT_EQ(br.first, 7u);
  EXPECT_EQ(ParseRange("bytes=5-", 10, &br), RangeResult::kSatisfiable);
  EXPECT_EQ(br.last, 9u);
  EXPECT_EQ(ParseRange("bytes=5-100", 10, &br), RangeResult::kSatisfiable);
  EXPECT_EQ(br.last, 9u);
  EXPECT_EQ(ParseRange("bytes=10-", 10, &br), RangeResult::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=0-1,4-5", 10, &br), RangeResult::kNone);
  EXPECT_EQ(ParseRange("items=0-1", 10, &br), RangeResult::kNone);
  EXPECT_EQ(ParseRange("bytes=5-2", 10, &br), RangeResult::kNone);
}

}  // namespace
}  // namespace sw
