// Warewulf's overlay functions that act on files, through the real swctl: file (one template,
// several outputs), softlink, ImportLink, readlink, abort, nobackup, Include, IncludeBlock and
// IncludeFrom (a file of an imported image).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "chunkstore/store.h"
#include "gtest/gtest.h"
#include "tools/cli_test_util.h"

namespace sw {
namespace {

namespace fs = std::filesystem;
using sw::testing::Proc;

class OverlayFuncsTest : public sw::testing::SwctlFixture {
 protected:
  // `swctl overlay render n1 PATH` with this test's nodes.conf and overlay dir.
  Proc Render(const std::string& path) {
    return Cmd("overlay render n1 " + path + " --nodes " + dir_ + "/nodes.conf --overlay-dir " +
               dir_ + "/ov");
  }
};

TEST_F(OverlayFuncsTest, FileSoftlinkAbortAndIncludes) {
  Write(dir_ + "/host/motd.txt", "line one\nline two\n# END OF MANAGED\nlocal stuff\n");
  fs::create_symlink("/usr/share/zoneinfo/UTC", dir_ + "/host/localtime");
  Write(dir_ + "/img/etc/os-release", "NAME=fromimage\n");
  ASSERT_EQ(Cmd("image import " + dir_ + "/img img --no-kernel --quiet").rc, 0);
  const std::string t = dir_ + "/ov/test/rootfs/etc/";
  // One template writing two files (and nothing under its own name).
  Write(t + "multi.ww",
        "{{ file \"a.conf\" }}\nhost={{ .Id }}\n{{ file \"b.conf\" }}\nsecond={{ .Id }}\n");
  Write(t + "link.ww", "{{ softlink \"/etc/target\" }}");
  Write(t + "zone.ww", "{{ ImportLink \"" + dir_ + "/host/localtime\" }}");
  Write(t + "rl.ww", "target={{ readlink \"" + dir_ + "/host/localtime\" }}\n");
  Write(t + "skip.ww", "{{ if eq .Id \"n1\" }}{{ abort }}{{ end }}never\n");
  Write(t + "keep.ww", "{{ nobackup }}kept\n");
  Write(t + "block.ww", "{{ IncludeBlock \"" + dir_ + "/host/motd.txt\" \"END OF MANAGED\" }}");
  Write(t + "inc.ww", "{{ Include \"" + dir_ + "/host/motd.txt\" }}");
  Write(t + "from.ww", "{{ IncludeFrom \"img\" \"/etc/os-release\" }}");
  Write(dir_ + "/nodes.conf", "nodes:\n  n1:\n    system overlay: [test]\n");

  EXPECT_EQ(Render("etc/a.conf").out, "host=n1\n");
  EXPECT_EQ(Render("etc/b.conf").out, "second=n1\n");
  EXPECT_NE(Render("etc/multi").rc, 0) << "a template that names its files writes no blank default";
  EXPECT_EQ(Render("etc/link").out, "symlink -> /etc/target\n");
  EXPECT_EQ(Render("etc/zone").out, "symlink -> /usr/share/zoneinfo/UTC\n");
  EXPECT_EQ(Render("etc/rl").out, "target=/usr/share/zoneinfo/UTC\n");
  EXPECT_NE(Render("etc/skip").rc, 0) << "abort writes nothing";
  EXPECT_EQ(Render("etc/keep").out, "kept\n");
  EXPECT_EQ(Render("etc/block").out, "line one\nline two\n");
  EXPECT_EQ(Render("etc/inc").out, "line one\nline two\n# END OF MANAGED\nlocal stuff\n");
  EXPECT_EQ(Render("etc/from").out, "NAME=fromimage\n");

  // The same through a real build: the stored overlay holds the files and the symlink.
  Proc b = Cmd("overlay build --nodes " + dir_ + "/nodes.conf --overlay-dir " + dir_ + "/ov --quiet");
  EXPECT_EQ(b.rc, 0) << b.out;
  EXPECT_TRUE(fs::exists(store_ + "/refs/overlays/n1/system"));
  // Errors name the template: a missing include fails the build.
  Write(t + "bad.ww", "{{ Include \"" + dir_ + "/host/missing\" }}");
  b = Cmd("overlay build --nodes " + dir_ + "/nodes.conf --overlay-dir " + dir_ + "/ov --quiet");
  EXPECT_EQ(b.rc, 1);
  EXPECT_NE(b.out.find("missing"), std::string::npos) << b.out;
}

// `swctl overlay build` is incremental: a node whose inputs (its data, the overlay sources,
// .AllNodes where a template reads it, the host files its templates include) did not change is
// not rendered again; a change renders exactly the nodes it can affect.
TEST_F(OverlayFuncsTest, IncrementalBuildRendersOnlyWhatChanged) {
  Write(dir_ + "/host/motd", "hello\n");
  Write(dir_ + "/ov/own/rootfs/etc/hostname.ww", "{{ .Id }} {{ index .Tags \"rack\" }}\n");
  Write(dir_ + "/ov/all/rootfs/etc/hosts.ww",
        "{{ range .AllNodes }}{{ .Id }} {{ index .Tags \"rack\" }}\n{{ end }}");
  Write(dir_ + "/ov/inc/rootfs/etc/motd.ww", "{{ Include \"" + dir_ + "/host/motd\" }}");
  auto conf = [&](const std::string& rack1, const std::string& n2_args = "quiet") {
    Write(dir_ + "/nodes.conf",
          "nodes:\n"
          "  n1:\n    system overlay: [own]\n    runtime overlay: [inc]\n    tags: {rack: " +
              rack1 + "}\n"
              "  n2:\n    system overlay: [own]\n    runtime overlay: [inc]\n    tags: {rack: b}\n"
              "    kernel: {args: [" + n2_args + "]}\n"
              "  n3:\n    system overlay: [own, all]\n    runtime overlay: [inc]\n");
  };
  // "overlays for 3 nodes ...: C refs changed, U unchanged (S not rendered: ...)": {C, S}.
  auto build = [&](const std::string& extra = "") -> std::pair<int, int> {
    Proc b = Cmd("overlay build --nodes " + dir_ + "/nodes.conf --overlay-dir " + dir_ + "/ov" +
                 extra);
    EXPECT_EQ(b.rc, 0) << b.out;
    int changed = -1, unchanged = -1, skipped = -1;
    size_t at = b.out.find("refs changed");
    EXPECT_NE(at, std::string::npos) << b.out;
    if (at == std::string::npos) return {-1, -1};
    size_t colon = b.out.rfind(": ", at);
    EXPECT_EQ(sscanf(b.out.c_str() + colon, ": %d refs changed, %d unchanged (%d not", &changed,
                     &unchanged, &skipped),
              3)
        << b.out;
    return {changed, skipped};
  };
  auto ref = [&](const std::string& node, const std::string& kind) {
    auto store = Store::Open(store_, StoreOptions{});
    EXPECT_TRUE(store.ok());
    auto id = (*store)->GetRef("overlays/" + node + "/" + kind);
    return id.ok() ? id->Hex() : std::string("none");
  };
  conf("a");
  EXPECT_EQ(build(), std::make_pair(6, 0));
  EXPECT_EQ(build(), std::make_pair(0, 6)) << "nothing changed: nothing rendered";
  auto sha = [&](const std::string& node, const std::string& kind) {
    auto store = Store::Open(store_, StoreOptions{});
    EXPECT_TRUE(store.ok());
    auto id = (*store)->GetRef("overlays/" + node + "/" + kind);
    auto m = id.ok() ? (*store)->GetManifest(*id) : Result<Manifest>(id.status());
    return m.ok() ? m->Sha256Hex() : std::string("none");
  };
  const std::string n1_sys = ref("n1", "system"), n2_sys = ref("n2", "system");
  const std::string n2_sha = sha("n2", "system");
  const std::string n3_sys = ref("n3", "system"), n1_rt = ref("n1", "runtime");

  // n1's data: n1 (both kinds: its data is an input of each) and n3's hosts (.AllNodes).
  conf("c");
  EXPECT_EQ(build(), std::make_pair(2, 3));
  EXPECT_NE(ref("n1", "system"), n1_sys);
  EXPECT_NE(ref("n3", "system"), n3_sys);
  EXPECT_EQ(ref("n2", "system"), n2_sys);
  EXPECT_EQ(ref("n1", "runtime"), n1_rt);

  // n2's kernel arguments: n3's hosts (.AllNodes) does not show them, so only n2 is rendered.
  conf("c", "splash");
  EXPECT_EQ(build(), std::make_pair(0, 4));

  // A host file a template includes: every runtime overlay, no system overlay.
  Write(dir_ + "/host/motd", "changed\n");
  EXPECT_EQ(build(), std::make_pair(3, 3));
  EXPECT_NE(ref("n1", "runtime"), n1_rt);

  // An overlay source: the nodes that use it.
  Write(dir_ + "/ov/all/rootfs/etc/hosts.ww", "{{ range .AllNodes }}{{ .Id }}\n{{ end }}");
  EXPECT_EQ(build(), std::make_pair(1, 5));

  // A ref moved by someone else is rebuilt; --force renders everything.
  {
    auto store = Store::Open(store_, StoreOptions{});
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->DeleteRef("overlays/n2/system").ok());
  }
  EXPECT_EQ(build(), std::make_pair(1, 5));
  EXPECT_EQ(sha("n2", "system"), n2_sha) << "the same content again";
  // Rendering the same content a second later makes a manifest with another creation time; the
  // refs keep the manifests the nodes have (no ref moves, Last-Modified stays).
  const std::string n1_now = ref("n1", "system");
  sleep(1);
  EXPECT_EQ(build(" --force"), std::make_pair(0, 0));
  EXPECT_EQ(ref("n1", "system"), n1_now);

  // A damaged input state is a warning and a full build, never a failure.
  Write(store_ + "/state/overlay-inputs", "garbage\n");
  EXPECT_EQ(build(), std::make_pair(0, 0));
  EXPECT_EQ(build(), std::make_pair(0, 6));

  // `overlay show`: an overlay's sources, one source file, and what the store holds for a node.
  const std::string od = " --overlay-dir " + dir_ + "/ov";
  Proc p = Cmd("overlay show own" + od);
  EXPECT_EQ(p.rc, 0);
  EXPECT_NE(p.out.find("etc/hostname.ww  (template)"), std::string::npos) << p.out;
  p = Cmd("overlay show own /etc/hostname.ww" + od);
  EXPECT_EQ(p.out, "{{ .Id }} {{ index .Tags \"rack\" }}\n");
  EXPECT_NE(Cmd("overlay show own ../../x" + od).rc, 0);
  EXPECT_NE(Cmd("overlay show missing" + od).rc, 0);
  p = Cmd("overlay show --node n1");
  EXPECT_EQ(p.rc, 0) << p.out;
  EXPECT_NE(p.out.find("n1 system overlay [own]\n  manifest " + ref("n1", "system")),
            std::string::npos) << p.out;
  EXPECT_NE(p.out.find(" 5  etc/hostname\n"), std::string::npos) << p.out;  // "n1 c\n"
  EXPECT_NE(p.out.find("n1 runtime overlay [inc]"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find(" 8  etc/motd\n"), std::string::npos) << p.out;  // "changed\n"
  EXPECT_EQ(Cmd("overlay show --node ghost").rc, 1);
}

// The sample overlays shipped in overlays/ render what their comments promise.
TEST_F(OverlayFuncsTest, SampleOverlaysRender) {
  const char* src = getenv("SW_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  Write(dir_ + "/nodes.conf",
        "nodeprofiles:\n  default:\n    cluster name: hpc\n"
        "    system overlay: [resolv, fstab, chrony, slurm]\n    runtime overlay: [users]\n"
        "nodes:\n"
        "  n1:\n    profiles: [default]\n    tags: {slurm: \"64\", dns: 10.0.0.53}\n"
        "  n2:\n    profiles: [default]\n    tags: {slurm: \"32\", \"nfs server\": 10.0.0.9}\n"
        "  login:\n    profiles: [default]\n");
  auto render = [&](const std::string& node, const std::string& path) {
    return Cmd("overlay render " + node + " " + path + " --nodes " + dir_ + "/nodes.conf --overlay-dir " +
               std::string(src) + "/overlays --server-ip 10.0.0.1");
  };
  Proc r = render("n1", "etc/resolv.conf");
  EXPECT_NE(r.out.find("search hpc\nnameserver 10.0.0.53\n"), std::string::npos) << r.out;
  r = render("n2", "etc/resolv.conf");
  EXPECT_NE(r.out.find("nameserver 10.0.0.1\n"), std::string::npos) << r.out;
  r = render("n2", "etc/fstab");
  EXPECT_NE(r.out.find("10.0.0.9:/home\t/home\tnfs"), std::string::npos) << r.out;
  r = render("n1", "etc/fstab");
  EXPECT_NE(r.out.find("10.0.0.1:/scratch\t/scratch\tnfs"), std::string::npos) << r.out;
  r = render("n1", "etc/chrony/chrony.conf");
  EXPECT_NE(r.out.find("server 10.0.0.1 iburst"), std::string::npos) << r.out;
  r = render("login", "etc/slurm/slurm.conf");
  EXPECT_NE(r.out.find("ClusterName=hpc\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("NodeName=n1 CPUs=64 State=UNKNOWN\nNodeName=n2 CPUs=32"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("NodeName=login"), std::string::npos) << "no slurm tag, no NodeName";
  r = render("n1", "etc/passwd");
  EXPECT_EQ(r.out.rfind("root:x:0:0:", 0), 0u) << r.out;
}

}  // namespace
}  // namespace sw
