// tests/bootstorm/bootstorm_test.cc: unit tests of bootstorm's iPXE interpreter, URL helpers and
// HTTP response reader (bench/bootstorm_ipxe.h, bench/bootstorm_http.h).
#include <gtest/gtest.h>

#include <string>

#include "bench/bootstorm_http.h"
#include "bench/bootstorm_ipxe.h"

namespace sw::bootstorm {
namespace {

IpxeEnv TestEnv() {
  IpxeEnv env;
  env.mac = "52:54:00:0a:0b:0c";
  env.uuid = "00000000-0000-4000-8000-000000000007";
  env.asset = "rack1";
  return env;
}

constexpr char kScriptUrl[] = "http://127.0.0.1:9873/ipxe/52-54-00-0a-0b-0c?assetkey=&uuid=x";

// Written for this test in the shape of Warewulf 4.7's default.ipxe as rendered for one node:
// metadata echoes, base/hwaddr/params settings, kernel first, a 2-second menu whose default
// depends on ${platform}, imgextract and initrd methods, a dracut entry, and error labels.
constexpr char kWarewulf47Like[] = R"(#!ipxe

echo
echo ================================================================================
echo Warewulf v4 now booting: n0001 (52-54-00-0a-0b-0c)
echo
echo Image:         rocky-9
echo Kernel:        (image default)
echo KernelArgs:    quiet crashkernel=no
echo ================================================================================

set base http://127.0.0.1:9873
set hwaddr 52-54-00-0a-0b-0c
set params assetkey=${asset}&uuid=${uuid}

kernel --name kernel ${base}/kernel/${hwaddr}?${params} || goto reboot

set method initrd
iseq ${platform} efi && set method imgextract ||

menu Warewulf boot method for n0001
item imgextract   imgextract: iPXE decompresses the image
item initrd       initrd: the kernel decompresses the image
item initrd_nocompress initrd without compression
item dracut       two-stage boot (dracut)
item --gap
item shell        iPXE shell
choose --timeout 2000 --default ${method} method && goto ${method} || goto ${method}

:imgextract
echo Downloading with imgextract
imgextract --name image ${base}/image/${hwaddr}?${params}&compress=gz || goto initrd
imgextract --name system ${base}/system/${hwaddr}?${params}&compress=gz || goto initrd
imgextract --name runtime ${base}/runtime/${hwaddr}?${params}&compress=gz || set runtime_initrd
goto boot

:initrd
echo Downloading with initrd
initrd --name image ${base}/image/${hwaddr}?${params}&compress=gz || goto reboot
initrd --name system ${base}/system/${hwaddr}?${params}&compress=gz || goto reboot
initrd --name runtime ${base}/runtime/${hwaddr}?${params}&compress=gz || set runtime_initrd
goto boot

:initrd_nocompress
initrd --name image ${base}/image/${hwaddr}?${params} || goto reboot
initrd --name system ${base}/system/${hwaddr}?${params} || goto reboot
initrd --name runtime ${base}/runtime/${hwaddr}?${params}
goto boot

:dracut
initrd --name initramfs ${base}/initramfs/${hwaddr}?${params} || goto reboot
boot kernel initrd=initramfs root=wwinit:tmpfs wwinit.server=${base} wwid=${hwaddr} || goto reboot

:shell
shell

:boot
isset ${runtime_initrd} || set runtime_initrd initrd=runtime
boot kernel initrd=image initrd=system ${runtime_initrd} wwid=${hwaddr} quiet || goto reboot

:reboot
echo Something went wrong, rebooting in 15s
sleep 15
reboot
)";

TEST(IpxeScript, Warewulf47LikeBiosUsesInitrd) {
  Result<IpxePlan> plan = RunIpxeScript(kWarewulf47Like, kScriptUrl, TestEnv());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_TRUE(plan->booted);
  EXPECT_TRUE(plan->chain_url.empty());
  EXPECT_TRUE(plan->warnings.empty()) << plan->warnings.front();
  const std::string q = "?assetkey=rack1&uuid=00000000-0000-4000-8000-000000000007";
  ASSERT_EQ(plan->fetches.size(), 4u);
  EXPECT_EQ(plan->fetches[0].command, "kernel");
  EXPECT_EQ(plan->fetches[0].name, "kernel");
  EXPECT_EQ(plan->fetches[0].url, "http://127.0.0.1:9873/kernel/52-54-00-0a-0b-0c" + q);
  EXPECT_EQ(plan->fetches[1].command, "initrd");
  EXPECT_EQ(plan->fetches[1].name, "image");
  EXPECT_EQ(plan->fetches[1].url,
            "http://127.0.0.1:9873/image/52-54-00-0a-0b-0c" + q + "&compress=gz");
  EXPECT_EQ(plan->fetches[2].name, "system");
  EXPECT_EQ(plan->fetches[3].name, "runtime");
  EXPECT_EQ(plan->fetches[3].url,
            "http://127.0.0.1:9873/runtime/52-54-00-0a-0b-0c" + q + "&compress=gz");
}

TEST(IpxeScript, Warewulf47LikeEfiUsesImgextract) {
  IpxeEnv env = TestEnv();
  env.platform = "efi";
  Result<IpxePlan> plan = RunIpxeScript(kWarewulf47Like, kScriptUrl, env);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->fetches.size(), 4u);
  EXPECT_EQ(plan->fetches[0].command, "kernel");
  for (size_t i = 1; i < 4; ++i) EXPECT_EQ(plan->fetches[i].command, "imgextract");
  EXPECT_TRUE(plan->booted);
}

TEST(IpxeScript, FailingDownloadTakesTheOrBranch) {
  // Optional overlays, in the shape of a script that boots without them.
  const char* script =
      "#!ipxe\n"
      "kernel --name kernel /k || goto failed\n"
      "initrd --name image /i || goto failed\n"
      "set initrds initrd=image\n"
      "initrd --name system /s && set initrds ${initrds} initrd=system || echo no system\n"
      "initrd --name runtime /r && set initrds ${initrds} initrd=runtime || echo no runtime\n"
      "boot kernel ${initrds}\n"
      ":failed\n"
      "reboot\n";
  IpxeEnv env = TestEnv();
  env.failing_fetches = {2};
  Result<IpxePlan> plan = RunIpxeScript(script, kScriptUrl, env);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->fetches.size(), 4u);
  EXPECT_TRUE(plan->fetches[2].failed);
  EXPECT_FALSE(plan->fetches[3].failed);
  EXPECT_TRUE(plan->booted);
  env.failing_fetches = {1};  // the image is not optional
  plan = RunIpxeScript(script, kScriptUrl, env);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->fetches.size(), 2u);
  EXPECT_FALSE(plan->booted);
}

TEST(IpxeScript, MacTypesAndRelativeUrls) {
  const char* script =
      "#!ipxe\n"
      "# comment\n"
      "echo booting ${mac}\n"
      "sleep 1\n"
      "kernel vmlinuz-${mac:hexraw} console=ttyS0\n"
      "initrd /abs/${mac:hexhyp}.img\n"
      "initrd --name=uu http://localhost:8080/u/${uuid:uristring}\n"
      "imgfetch //127.0.0.2/x?y=${asset}\n"
      "boot\n"
      "kernel http://127.0.0.1/never\n";
  Result<IpxePlan> plan =
      RunIpxeScript(script, "http://127.0.0.1:8000/dir/boot.ipxe?q=1", TestEnv());
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->fetches.size(), 4u);
  EXPECT_EQ(plan->fetches[0].url, "http://127.0.0.1:8000/dir/vmlinuz-5254000a0b0c");
  EXPECT_EQ(plan->fetches[1].url, "http://127.0.0.1:8000/abs/52-54-00-0a-0b-0c.img");
  EXPECT_EQ(plan->fetches[2].name, "uu");
  EXPECT_EQ(plan->fetches[2].url, "http://localhost:8080/u/00000000-0000-4000-8000-000000000007");
  EXPECT_EQ(plan->fetches[3].url, "http://127.0.0.2/x?y=rack1");
  EXPECT_TRUE(plan->booted);
}

TEST(IpxeScript, ChainStopsAndIsResolved) {
  Result<IpxePlan> plan = RunIpxeScript(
      "#!ipxe\ndhcp\nchain --autofree next.ipxe?mac=${mac:hexhyp} || shell\nkernel /no\n",
      "http://127.0.0.1:1234/a/b", TestEnv());
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->fetches.empty());
  EXPECT_EQ(plan->chain_url, "http://127.0.0.1:1234/a/next.ipxe?mac=52-54-00-0a-0b-0c");
}

TEST(Url, ResolveDotSegments) {
  const char* base = "http://127.0.0.1:80/ipxe/aa-bb?x=1";
  EXPECT_EQ(ResolveUrl(base, "../runtime/aa"), "http://127.0.0.1:80/runtime/aa");
  EXPECT_EQ(ResolveUrl(base, "./k?a=../b"), "http://127.0.0.1:80/ipxe/k?a=../b");
  EXPECT_EQ(ResolveUrl(base, "/a/b/../../../c/"), "http://127.0.0.1:80/c/");
  EXPECT_EQ(ResolveUrl(base, "?y=2"), "http://127.0.0.1:80/ipxe/aa-bb?y=2");
  EXPECT_EQ(ResolveUrl(base, "http://[::1]:81/z"), "http://[::1]:81/z");
  EXPECT_EQ(ResolveUrl("http://127.0.0.1", "k"), "http://127.0.0.1/k");
}

TEST(IpxeScript, GotoLoopIsBoundedAndUnknownLabelWarns) {
  Result<IpxePlan> plan = RunIpxeScript("#!ipxe\n:top\ngoto top\n", kScriptUrl, TestEnv());
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->booted);
  ASSERT_FALSE(plan->warnings.empty());
  plan = RunIpxeScript("#!ipxe\ngoto nowhere || kernel /k\nboot\n", kScriptUrl, TestEnv());
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->fetches.size(), 1u);  // the failed goto runs the || branch
  EXPECT_FALSE(plan->warnings.empty());
}

TEST(IpxeScript, UnconfiguredScriptDownloadsNothing) {
  Result<IpxePlan> plan = RunIpxeScript(
      "#!ipxe\necho This node is unconfigured. HW address: ${mac}\nsleep 60\nreboot\n", kScriptUrl,
      TestEnv());
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->fetches.empty());
  EXPECT_FALSE(plan->booted);
}

TEST(IpxeScript, NotAScript) {
  EXPECT_FALSE(RunIpxeScript("<html>404</html>", kScriptUrl, TestEnv()).ok());
  EXPECT_FALSE(RunIpxeScript("", kScriptUrl, TestEnv()).ok());
}

TEST(IpxeScript, SetClearIncAndNestedExpansion) {
  std::map<std::string, std::string> vars = {{"idx", "0"}, {"net0/mac", "aa:bb"}, {"x", "1"}};
  EXPECT_EQ(ExpandIpxeVars("${net${idx}/mac:hexhyp}-${nope}-${x}", vars), "aa-bb--1");
  Result<IpxePlan> plan =
      RunIpxeScript("#!ipxe\nset n 1\ninc n 2\nset p a b c\nclear x\nkernel /k/${n}/${p}\nboot\n",
                    kScriptUrl, TestEnv());
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->fetches.size(), 1u);
  EXPECT_EQ(plan->fetches[0].url, "http://127.0.0.1:9873/k/3/a");
}

TEST(Url, ParseAndLoopback) {
  Result<HttpUrl> u = ParseHttpUrl("http://127.0.0.1:8080/a?b=c#frag");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/a?b=c");
  EXPECT_EQ(u->host_header, "127.0.0.1:8080");
  u = ParseHttpUrl("http://[::1]/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->host_header, "[::1]");
  EXPECT_FALSE(ParseHttpUrl("https://127.0.0.1/").ok());
  EXPECT_FALSE(ParseHttpUrl("http://127.0.0.1:99999/").ok());
  EXPECT_FALSE(ParseHttpUrl("http://user@127.0.0.1/").ok());

  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.255.3.4"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("[::1]"));
  EXPECT_TRUE(IsLoopbackHost("LocalHost"));
  EXPECT_FALSE(IsLoopbackHost("128.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("10.0.2.100"));
  EXPECT_FALSE(IsLoopbackHost("::2"));
  EXPECT_FALSE(IsLoopbackHost("localhost.example.com"));
  EXPECT_FALSE(IsLoopbackHost("127.0.0.1.nip.io"));
  EXPECT_FALSE(IsLoopbackHost(""));
}

TEST(ResponseReader, ContentLengthKeepAliveAndPipelinedRest) {
  ResponseReader r(true);
  std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"e1\"\r\n\r\nhelloHTTP/1.1";
  size_t used = 0;
  // Byte at a time: the head terminator straddles calls.
  while (used < wire.size() && !r.done()) used += r.Feed(std::string_view(wire).substr(used, 1));
  ASSERT_TRUE(r.done());
  EXPECT_EQ(used, wire.size() - 8);
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.body(), "hello");
  EXPECT_EQ(r.etag(), "\"e1\"");
  EXPECT_FALSE(r.must_close());
}

TEST(ResponseReader, ChunkedWithSkipAndTrailer) {
  ResponseReader r(false);
  std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(r.Feed(head), head.size());
  EXPECT_EQ(r.Feed("a;ext=1\r\n"), 9u);
  EXPECT_EQ(r.SkippableBytes(), 10u);
  r.Skip(4);
  std::string rest = "567890\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n";
  EXPECT_EQ(r.Feed(rest), rest.size());
  ASSERT_TRUE(r.done());
  EXPECT_EQ(r.body_bytes(), 13u);
}

TEST(ResponseReader, Http10CloseDelimitedAnd304) {
  ResponseReader r(true);
  r.Feed("HTTP/1.0 200 OK\r\nServer: SimpleHTTP\r\n\r\nabc");
  EXPECT_FALSE(r.done());
  r.OnEof();
  ASSERT_TRUE(r.done());
  EXPECT_TRUE(r.must_close());
  EXPECT_EQ(r.body(), "abc");

  ResponseReader n;
  n.Feed("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
  EXPECT_TRUE(n.done());
  EXPECT_EQ(n.body_bytes(), 0u);

  ResponseReader bad;
  bad.Feed("SSH-2.0-OpenSSH\r\n\r\n");
  EXPECT_TRUE(bad.failed());

  ResponseReader cut;
  cut.Feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  cut.OnEof();
  EXPECT_TRUE(cut.failed());
}

}  // namespace
}  // namespace sw::bootstorm
