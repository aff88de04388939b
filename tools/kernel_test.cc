// Tests of `swctl kernel` through the real swctl binary ($SW_BUILD_DIR), checking what lands in
// the store with the chunkstore API: the kernel file, the modules layer's newc entries, version
// detection, import from an image (split and usr-merged), depmod when modules.dep is missing,
// gc reachability, errors, and the modules warning of `swctl overlay build`.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "chunkstore/newc.h"
#include "chunkstore/store.h"
#include "gtest/gtest.h"
#include "tools/cli_test_util.h"
#include "tools/kernels.h"

namespace sw {
namespace {

namespace fs = std::filesystem;

using sw::testing::Proc;
using sw::testing::Sh;
using sw::testing::Swctl;

// A minimal x86 bzImage: setup header magic and a version string, then filler.
std::string FakeBzImage(const std::string& version, char fill) {
  std::string k(0x4000, fill);
  std::memcpy(&k[0x202], "HdrS", 4);
  uint16_t off = 0x1000;
  k[0x20E] = static_cast<char>(off & 0xff);
  k[0x20F] = static_cast<char>(off >> 8);
  std::string v = version + " (builder@host) #1 SMP";
  std::memcpy(&k[0x200 + off], v.c_str(), v.size() + 1);
  return k;
}

class KernelTest : public sw::testing::SwctlFixture {
 protected:
  std::unique_ptr<Store> OpenStore() {
    auto s = Store::Open(store_, StoreOptions{});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // The kernel manifest of refs/kernels/<name> and its modules layer as path -> entry.
  struct Stored {
    Manifest kernel;
    std::string kernel_bytes;
    std::map<std::string, NewcEntry> modules;
    std::vector<std::string> segment_data;  // keeps the entries' data alive
  };
  Stored Load(const std::string& name) {
    Stored out;
    auto store = OpenStore();
    auto id = store->GetRef("kernels/" + name);
    EXPECT_TRUE(id.ok()) << name;
    if (!id.ok()) return out;
    out.kernel = *store->GetManifest(*id);
    for (const auto& c : out.kernel.chunks) out.kernel_bytes += *store->ReadChunkRaw(c.id, true);
    if (auto link = out.kernel.Meta("modules")) {
      auto mm = store->GetManifest(*ChunkId::FromHex(*link));
      EXPECT_TRUE(mm.ok());
      EXPECT_EQ(mm->kind, ArtifactKind::kModules);
      for (const auto& c : mm->chunks) out.segment_data.push_back(*store->ReadChunkRaw(c.id, true));
      for (const auto& seg : out.segment_data) {
        auto entries = ParseNewc(seg);
        EXPECT_TRUE(entries.ok());
        for (auto& e : *entries) out.modules.emplace(e.name, e);
      }
    }
    return out;
  }
};

TEST_F(KernelTest, ImportFromFileWithModulesDirectory) {
  std::string k = FakeBzImage("6.9.1-test", 'k');
  Write(dir_ + "/vmlinuz", k);
  std::string mods = dir_ + "/mods";
  Write(mods + "/kernel/fs/a.ko", "module a");
  Write(mods + "/modules.dep", "kernel/fs/a.ko:\n");
  fs::create_symlink("/usr/src/linux-headers-6.9.1-test", mods + "/build");
  Proc r = Cmd("kernel import " + dir_ + "/vmlinuz kx --modules " + mods);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("6.9.1-test"), std::string::npos) << r.out;

  Stored s = Load("kx");
  EXPECT_EQ(s.kernel_bytes, k);
  EXPECT_EQ(s.kernel.Meta("kernel_version").value_or(""), "6.9.1-test");
  // No "lib" entry (it would replace a usr-merge symlink); everything root-owned.
  EXPECT_EQ(s.modules.count("lib"), 0u);
  ASSERT_EQ(s.modules.count("lib/modules/6.9.1-test/kernel/fs/a.ko"), 1u);
  EXPECT_EQ(s.modules.at("lib/modules/6.9.1-test/kernel/fs/a.ko").data, "module a");
  EXPECT_EQ(s.modules.at("lib/modules/6.9.1-test/modules.dep").data, "kernel/fs/a.ko:\n");
  EXPECT_EQ(s.modules.at("lib/modules/6.9.1-test/build").data, "/usr/src/linux-headers-6.9.1-test");
  for (const auto& [name, e] : s.modules) {
    EXPECT_EQ(e.h.uid, 0u) << name;
    EXPECT_EQ(e.h.gid, 0u) << name;
  }
  ASSERT_EQ(s.modules.count("lib/modules"), 1u);

  r = Cmd("kernel list");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("kx"), std::string::npos) << r.out;
  r = Cmd("kernel list --json");
  EXPECT_NE(r.out.find("\"name\":\"kx\",\"version\":\"6.9.1-test\""), std::string::npos) << r.out;
  r = Cmd("kernel show kx");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("lib/modules/6.9.1-test"), std::string::npos) << r.out;

  // Re-import, a second later, is idempotent: the ref keeps the same kernel and modules
  // manifests (only their creation time would differ).
  std::string before(s.kernel.Meta("modules").value_or(""));
  auto ref_before = OpenStore()->GetRef("kernels/kx");
  ASSERT_TRUE(ref_before.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_EQ(Cmd("kernel import " + dir_ + "/vmlinuz kx --quiet --modules " + mods).rc, 0);
  EXPECT_EQ(Load("kx").kernel.Meta("modules").value_or(""), before);
  EXPECT_EQ(OpenStore()->GetRef("kernels/kx")->Hex(), ref_before->Hex());
}

TEST_F(KernelTest, InstalledVersionUnderRootAndNameDefaultsToVersion) {
  std::string root = dir_ + "/root";
  Write(root + "/boot/vmlinuz-7.0.0-r", "not a bzImage");
  Write(root + "/lib/modules/7.0.0-r/modules.dep", "");
  Write(root + "/lib/modules/7.0.0-r/kernel/b.ko", "b");
  Proc r = Cmd("kernel import 7.0.0-r --quiet --root " + root);
  ASSERT_EQ(r.rc, 0) << r.out;
  Stored s = Load("7.0.0-r");
  EXPECT_EQ(s.kernel_bytes, "not a bzImage");
  EXPECT_EQ(s.modules.count("lib/modules/7.0.0-r/kernel/b.ko"), 1u);
  // --no-modules: the kernel alone.
  ASSERT_EQ(Cmd("kernel import 7.0.0-r bare --no-modules --quiet --root " + root).rc, 0);
  EXPECT_FALSE(Load("bare").kernel.Meta("modules").has_value());
}

TEST_F(KernelTest, ImportFromImageSplitAndUsrMerged) {
  for (bool merged : {false, true}) {
    SCOPED_TRACE(merged ? "usr-merged" : "split");
    std::string src = dir_ + (merged ? "/merged" : "/split");
    std::string libdir = merged ? src + "/usr/lib" : src + "/lib";
    Write(src + "/boot/vmlinuz-6.2.0-x", FakeBzImage("6.2.0-x", merged ? 'm' : 's'));
    Write(libdir + "/modules/6.2.0-x/kernel/drivers/c.ko", std::string(5000, 'c'));
    Write(libdir + "/modules/6.2.0-x/modules.dep", "kernel/drivers/c.ko:\n");
    if (merged) fs::create_symlink("usr/lib", src + "/lib");
    // Hard-linked module files survive the round trip.
    fs::create_hard_link(libdir + "/modules/6.2.0-x/kernel/drivers/c.ko",
                         libdir + "/modules/6.2.0-x/kernel/drivers/c2.ko");
    std::string img = merged ? "imgm" : "imgs";
    ASSERT_EQ(Cmd("image import " + src + " " + img + " --quiet").rc, 0);
    Proc r = Cmd("image show " + img);
    EXPECT_NE(r.out.find("modules   6.2.0-x"), std::string::npos) << r.out;
    r = Cmd("kernel import image:" + img + " k" + img + " --quiet");
    ASSERT_EQ(r.rc, 0) << r.out;
    Stored s = Load("k" + img);
    EXPECT_EQ(s.kernel.Meta("kernel_version").value_or(""), "6.2.0-x");
    EXPECT_EQ(s.kernel_bytes, FakeBzImage("6.2.0-x", merged ? 'm' : 's'));
    ASSERT_EQ(s.modules.count("lib/modules/6.2.0-x/kernel/drivers/c.ko"), 1u);
    std::string c = std::string(s.modules.at("lib/modules/6.2.0-x/kernel/drivers/c.ko").data);
    std::string c2 = std::string(s.modules.at("lib/modules/6.2.0-x/kernel/drivers/c2.ko").data);
    EXPECT_EQ(c.size() + c2.size(), 5000u) << "one member of the hard-link pair carries the data";
    EXPECT_EQ(s.modules.at("lib/modules/6.2.0-x/modules.dep").data, "kernel/drivers/c.ko:\n");
  }
  // An image without modules: a clear error, and --no-modules works.
  Write(dir_ + "/nomods/boot/vmlinuz-6.3", "k");
  ASSERT_EQ(Cmd("image import " + dir_ + "/nomods nm --quiet").rc, 0);
  Proc r = Cmd("kernel import image:nm knm --quiet");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("no lib/modules/6.3"), std::string::npos) << r.out;
  EXPECT_EQ(Cmd("kernel import image:nm knm --quiet --no-modules").rc, 0);
}

TEST_F(KernelTest, DepmodRegeneratesAMissingModulesDep) {
  const std::string ver = "6.1.0-56-amd64";
  std::string sys = "/lib/modules/" + ver;
  if (!fs::exists(sys + "/kernel/fs/isofs/isofs.ko") || Sh("command -v depmod").rc != 0) {
    GTEST_SKIP() << "needs Debian's " << ver << " modules and depmod";
  }
  std::string mods = dir_ + "/mods";
  for (std::string rel : {"kernel/fs/isofs/isofs.ko", "kernel/drivers/cdrom/cdrom.ko"}) {
    fs::create_directories(fs::path(mods + "/" + rel).parent_path());
    fs::copy_file(sys + "/" + rel, mods + "/" + rel);
  }
  Proc r = Cmd("kernel import /boot/vmlinuz-" + ver + " dk --quiet --modules " + mods);
  if (!fs::exists("/boot/vmlinuz-" + ver)) GTEST_SKIP() << "no /boot/vmlinuz-" << ver;
  ASSERT_EQ(r.rc, 0) << r.out;
  Stored s = Load("dk");
  ASSERT_EQ(s.modules.count("lib/modules/" + ver + "/modules.dep"), 1u);
  EXPECT_NE(std::string(s.modules.at("lib/modules/" + ver + "/modules.dep").data)
                .find("kernel/fs/isofs/isofs.ko: kernel/drivers/cdrom/cdrom.ko"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(mods + "/modules.dep")) << "the source directory is left untouched";
  // Nothing left behind in the store's tmp/.
  EXPECT_TRUE(fs::is_empty(store_ + "/tmp"));
}

TEST_F(KernelTest, GcKeepsModulesOfLiveKernelsOnly) {
  Write(dir_ + "/vmlinuz", FakeBzImage("5.0.0", 'g'));
  Write(dir_ + "/mods/modules.dep", "");
  Write(dir_ + "/mods/kernel/g.ko", std::string(100000, 'g'));
  ASSERT_EQ(Cmd("kernel import " + dir_ + "/vmlinuz kg --quiet --modules " + dir_ + "/mods").rc, 0);
  std::string mods_id = std::string(Load("kg").kernel.Meta("modules").value_or(""));
  ASSERT_EQ(mods_id.size(), 32u);
  ASSERT_EQ(Cmd("store gc").rc, 0);
  EXPECT_TRUE(*OpenStore()->HasManifest(*ChunkId::FromHex(mods_id)));
  Proc r = Cmd("store fsck");
  EXPECT_EQ(r.rc, 0) << r.out;
  ASSERT_EQ(Cmd("kernel delete kg").rc, 0);
  EXPECT_NE(Cmd("kernel show kg").rc, 0);
  ASSERT_EQ(Cmd("store gc").rc, 0);
  EXPECT_FALSE(*OpenStore()->HasManifest(*ChunkId::FromHex(mods_id)));
}

TEST_F(KernelTest, ErrorsAreClearAndStoreNothing) {
  Proc r = Cmd("kernel import /nonexistent/vmlinuz k");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("neither a kernel file"), std::string::npos) << r.out;
  Write(dir_ + "/vmlinuz", FakeBzImage("6.6.6", 'e'));
  r = Cmd("kernel import " + dir_ + "/vmlinuz k --modules " + dir_ + "/missing");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("--no-modules"), std::string::npos) << r.out;
  r = Cmd("kernel import " + dir_ + "/vmlinuz 'bad/name' --no-modules");
  EXPECT_EQ(r.rc, 2);
  r = Cmd("kernel import image:nope k");
  EXPECT_EQ(r.rc, 1);
  r = Cmd("kernel delete nope");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(Cmd("kernel bogus").rc, 2);
  EXPECT_EQ(Cmd("kernel --help").rc, 0);
  EXPECT_FALSE(fs::exists(store_ + "/refs/kernels/k"));
}

// `swctl overlay build` warns when a node's kernel has no modules anywhere.
TEST_F(KernelTest, OverlayBuildWarnsAboutKernelsWithoutModules) {
  Write(dir_ + "/img/boot/vmlinuz-6.1.0-a", FakeBzImage("6.1.0-a", 'i'));
  Write(dir_ + "/img/lib/modules/6.1.0-a/modules.dep", "");
  ASSERT_EQ(Cmd("image import " + dir_ + "/img rocky --quiet").rc, 0);
  Write(dir_ + "/vmlinuz", FakeBzImage("6.9.9-b", 'b'));
  ASSERT_EQ(Cmd("kernel import " + dir_ + "/vmlinuz bare --no-modules --quiet").rc, 0);
  Write(dir_ + "/mods/modules.dep", "");
  ASSERT_EQ(Cmd("kernel import " + dir_ + "/vmlinuz full --modules " + dir_ + "/mods --quiet").rc, 0);
  Write(dir_ + "/nodes.conf",
        "nodeprofiles:\n  default: {image name: rocky}\nnodes:\n"
        "  n1: {profiles: [default]}\n"                               // image's kernel: fine
        "  n2: {profiles: [default], kernel: {version: full}}\n"      // layer: fine
        "  n3: {profiles: [default], kernel: {version: bare}}\n"      // no modules for 6.9.9-b
        "  n4: {profiles: [default], kernel: {version: bare}}\n"
        "  n5: {profiles: [default], kernel: {version: \"6.1\"}}\n"   // pins the image's kernel
        "  n6: {profiles: [default], kernel: {version: \"5.4\"}}\n");  // no such kernel
  fs::create_directories(dir_ + "/overlays");
  Proc r = Cmd("overlay build --nodes " + dir_ + "/nodes.conf --overlay-dir " + dir_ +
               "/overlays --quiet");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("warning: n3 and 1 more: kernel 6.9.9-b has no modules: image 'rocky' has "
                       "modules for 6.1.0-a"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("warning: n6: kernel '5.4' is neither an imported kernel nor image 'rocky''s "
                       "kernel (6.1.0-a)"),
            std::string::npos)
      << r.out;
  for (const char* ok : {"n1", "n2", "n5"}) {
    EXPECT_EQ(r.out.find(std::string("warning: ") + ok + ":"), std::string::npos) << ok << r.out;
  }
}

}  // namespace
}  // namespace sw
