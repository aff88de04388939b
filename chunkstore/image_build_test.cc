#include "chunkstore/image_build.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>

#include "chunkstore/codec.h"
#include "chunkstore/newc.h"
#include "chunkstore/tree_test_util.h"
#include "common/fs_util.h"
#include "gtest/gtest.h"

namespace sw {
namespace {

using tree_test::Dir;
using tree_test::File;
using tree_test::Symlink;

int Sh(const std::string& cmd) { return std::system(cmd.c_str()); }

class ImageBuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/imgb_" + RandomHex(6);
    ASSERT_TRUE(MakeDirs(dir_).ok());
    auto s = Store::Open(dir_ + "/store", StoreOptions{.create = true});
    ASSERT_TRUE(s.ok());
    store_ = std::move(s).value();
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(dir_).ok()); }

  // Raw bytes of every segment, in order.
  std::vector<std::string> Segments(const Manifest& m) {
    std::vector<std::string> out;
    for (const auto& c : m.chunks) out.push_back(*store_->ReadChunkRaw(c.id, true));
    return out;
  }
  std::vector<ChunkId> Ids(const BuildResult& r) {
    std::vector<ChunkId> ids;
    for (const auto& c : r.manifest.chunks) ids.push_back(c.id);
    return ids;
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(ImageBuildTest, SegmentsAreCompleteArchivesTheSystemCpioUnpacks) {
  std::vector<TreeEntry> t;
  t.push_back(Dir("etc"));
  t.push_back(File("etc/hostname", "node-x\n"));
  t.push_back(File("etc/shadow", "secret", 0600));
  t.push_back(Symlink("etc/localtime", "/usr/share/zoneinfo/UTC"));
  t.push_back(File("usr/bin/tool", std::string(3 << 20, 'x'), 0755));  // large: alone
  TreeEntry h1 = File("usr/bin/perl", "#!perl\n", 0755);
  h1.hardlink_key = 77;
  TreeEntry h2 = File("usr/lib/x/perl5.36", "#!perl\n", 0755);
  h2.hardlink_key = 77;
  t.push_back(h1);
  t.push_back(h2);
  for (int i = 0; i < 500; ++i) t.push_back(File("usr/share/doc/f" + std::to_string(i), std::string(4000 + i, 'a' + i % 26)));
  bool root = geteuid() == 0;
  if (root) {
    TreeEntry dev;
    dev.path = "dev/console";
    dev.mode = S_IFCHR | 0600;
    dev.rdev_major = 5;
    dev.rdev_minor = 1;
    t.push_back(dev);
    TreeEntry owned = File("home/user/file", "mine");
    owned.uid = 1234;
    owned.gid = 567;
    t.push_back(owned);
  }
  auto r = BuildArtifact(store_.get(), t, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(r->segments, 3u);
  std::string all;
  for (const auto& seg : Segments(r->manifest)) {
    EXPECT_EQ(seg.size() % 4, 0u);
    size_t archives = 0;
    ASSERT_TRUE(ParseNewc(seg, &archives).ok());
    EXPECT_EQ(archives, 1u);  // exactly one complete archive per segment
    EXPECT_NE(seg.find("TRAILER!!!"), std::string::npos);
    all += seg;
  }
  EXPECT_EQ(all.size(), r->manifest.total_raw_size);
  EXPECT_EQ(Sha256Of(ByteSpan(reinterpret_cast<const uint8_t*>(all.data()), all.size())),
            r->manifest.sha256);

  // Export as zstd: `zstd -dc` gives the raw stream; then unpack each segment with GNU cpio.
  std::string zst = dir_ + "/image.zst";
  {
    UniqueFd fd(open(zst.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    ASSERT_TRUE(ExportArtifact(*store_, r->manifest, ExportFormat::kZstd, fd.get()).ok());
  }
  ASSERT_EQ(Sh("zstd -q -dc " + zst + " > " + dir_ + "/image.cpio"), 0);
  EXPECT_EQ(*ReadFileToString(dir_ + "/image.cpio"), all);
  std::string gz = dir_ + "/image.gz";
  {
    UniqueFd fd(open(gz.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    ASSERT_TRUE(ExportArtifact(*store_, r->manifest, ExportFormat::kGzip, fd.get()).ok());
  }
  ASSERT_EQ(Sh("gzip -dc " + gz + " > " + dir_ + "/image2.cpio"), 0);
  {  // the gzip form is one archive with the same entries (segments as continuations)
    size_t archives = 0, segs = 0;
    const std::string gz_stream = *ReadFileToString(dir_ + "/image2.cpio");  // entries view it
    auto whole = ParseNewc(gz_stream, &archives);
    auto each = ParseNewc(all, &segs);
    ASSERT_TRUE(whole.ok() && each.ok());
    EXPECT_EQ(archives, 1u);
    EXPECT_GT(segs, 1u);
    ASSERT_EQ(whole->size(), each->size());
    for (size_t i = 0; i < whole->size(); ++i) {
      EXPECT_EQ((*whole)[i].name, (*each)[i].name);
      EXPECT_EQ((*whole)[i].data, (*each)[i].data);
    }
  }

  std::string out = dir_ + "/unpacked";
  ASSERT_TRUE(MakeDirs(out).ok());
  int n = 0;
  for (const auto& seg : Segments(r->manifest)) {
    std::string f = dir_ + "/seg" + std::to_string(n++);
    ASSERT_TRUE(WriteFileAtomic(f, seg).ok());
    ASSERT_EQ(Sh("cd " + out + " && cpio -idm --quiet < " + f), 0);
  }
  EXPECT_EQ(*ReadFileToString(out + "/etc/hostname"), "node-x\n");
  struct stat st;
  ASSERT_EQ(stat((out + "/etc/shadow").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_mtime, 1700000000);
  char buf[256] = {};
  ASSERT_GT(readlink((out + "/etc/localtime").c_str(), buf, sizeof(buf)), 0);
  EXPECT_STREQ(buf, "/usr/share/zoneinfo/UTC");
  struct stat a, b;
  ASSERT_EQ(stat((out + "/usr/bin/perl").c_str(), &a), 0);
  ASSERT_EQ(stat((out + "/usr/lib/x/perl5.36").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);  // restored as one inode
  EXPECT_EQ(*ReadFileToString(out + "/usr/lib/x/perl5.36"), "#!perl\n");
  EXPECT_EQ(ReadFileToString(out + "/usr/bin/tool")->size(), 3u << 20);
  if (root) {
    ASSERT_EQ(stat((out + "/dev/console").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(major(st.st_rdev), 5u);
    EXPECT_EQ(minor(st.st_rdev), 1u);
    ASSERT_EQ(stat((out + "/home/user/file").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1234u);
    EXPECT_EQ(st.st_gid, 567u);
  }
  // Synthesized parents exist as directories.
  ASSERT_EQ(stat((out + "/usr/share/doc").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST_F(ImageBuildTest, IdenticalTreeIsFullyDeduplicatedAndOrderIndependent) {
  std::vector<TreeEntry> t;
  for (int i = 0; i < 300; ++i) t.push_back(File("d" + std::to_string(i % 7) + "/f" + std::to_string(i), std::string(3000, 'q' + i % 5)));
  auto r1 = BuildArtifact(store_.get(), t, {});
  ASSERT_TRUE(r1.ok());
  std::reverse(t.begin(), t.end());
  auto r2 = BuildArtifact(store_.get(), t, {});
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->segments_new, 0u);
  EXPECT_EQ(Ids(*r1), Ids(*r2));
  EXPECT_EQ(r1->manifest.sha256, r2->manifest.sha256);
}

// The overlay build: many nodes' trees share large files (an .AllNodes hosts file) and differ in
// small ones. With large_files_first each tree is [directories][shared large files][own small
// files]: one new segment per node, a shared start whose SHA-256 state the prefix cache keeps,
// the same digests as hashing everything, and a stream cpio still unpacks (parents first).
TEST_F(ImageBuildTest, OverlayOrderSharesTheStartAndThePrefixCacheKeepsDigestsExact) {
  const std::string hosts(100000, 'h'), slurm(60000, 's');
  auto tree = [&](int node) {
    std::vector<TreeEntry> t;
    t.push_back(File("etc/hostname", "n" + std::to_string(node) + "\n"));
    t.push_back(File("etc/hosts", hosts));
    t.push_back(File("etc/resolv.conf", "nameserver 10.0.0.1\n"));
    t.push_back(File("etc/slurm/slurm.conf", slurm));
    t.push_back(File("etc/zz-node", std::to_string(node)));
    return t;
  };
  Sha256PrefixCache cache;
  ImageBuildOptions o;
  o.kind = ArtifactKind::kOverlay;
  o.threads = 1;
  o.stand_alone_bytes = 16384;
  o.large_files_first = true;
  o.sha_prefix_cache = &cache;
  o.created_unix = 1750000000;
  std::vector<BuildResult> built;
  for (int node = 0; node < 4; ++node) {
    auto r = BuildArtifact(store_.get(), tree(node), o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->manifest.created_unix, 1750000000);
    // [dirs etc, etc/slurm] [hosts] [slurm.conf] [hostname resolv.conf zz-node]
    ASSERT_EQ(r->segments, 4u);
    EXPECT_EQ(r->segments_new, node == 0 ? 4u : 1u);
    std::string all;
    for (const auto& seg : Segments(r->manifest)) all += seg;
    EXPECT_EQ(Sha256Of(ByteSpan(reinterpret_cast<const uint8_t*>(all.data()), all.size())),
              r->manifest.sha256);
    if (node == 3) {  // segment by segment, as the kernel does
      std::string f = dir_ + "/ov.cpio", out = dir_ + "/ov";
      ASSERT_TRUE(MakeDirs(out).ok());
      for (const auto& seg : Segments(r->manifest)) {
        ASSERT_TRUE(WriteFileAtomic(f, seg).ok());
        ASSERT_EQ(Sh("cd " + out + " && cpio -idm --quiet < " + f), 0);
      }
      EXPECT_EQ(*ReadFileToString(out + "/etc/hostname"), "n3\n");
      EXPECT_EQ(*ReadFileToString(out + "/etc/slurm/slurm.conf"), slurm);
    }
    built.push_back(std::move(*r));
  }
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(built[0].manifest.chunks[k].id, built[3].manifest.chunks[k].id);
  }
  EXPECT_EQ(cache.hits(), 6u);  // nodes 1-3 skip hashing hosts and slurm.conf
  // A rebuild without the cache gives the same manifest (same order, same created time).
  o.sha_prefix_cache = nullptr;
  auto again = BuildArtifact(store_.get(), tree(2), o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->manifest_id, built[2].manifest_id);
}

// Property: inserting, changing or removing one file changes at most two segment ids, in path
// order and in package order (every other trial: files in one of five packages, or none).
TEST_F(ImageBuildTest, OneFileChangeChangesAtMostTwoSegments) {
  std::mt19937_64 rng(7);
  ImageBuildOptions opts;
  for (int trial = 0; trial < 32; ++trial) {
    const bool grouped = trial % 2 == 1;
    std::vector<TreeEntry> t;
    int nfiles = 800 + static_cast<int>(rng() % 800);
    for (int i = 0; i < nfiles; ++i) {
      size_t size = rng() % 20 == 0 ? 50000 + rng() % 400000 : 100 + rng() % 6000;
      t.push_back(File("a" + std::to_string(rng() % 9) + "/b" + std::to_string(rng() % 30) + "/f" +
                           std::to_string(i),
                       std::string(size, static_cast<char>('a' + rng() % 26))));
      if (grouped) t.back().group = static_cast<uint32_t>(rng() % 6);
    }
    auto base = BuildArtifact(store_.get(), t, opts);
    ASSERT_TRUE(base.ok());
    std::vector<TreeEntry> v = t;
    int op = trial % 3;
    size_t k = rng() % v.size();
    if (op == 0) {
      v.push_back(File(v[k].path + "-new", std::string(1 + rng() % 9000, 'z')));
      if (grouped) v.back().group = static_cast<uint32_t>(rng() % 6);
    } else if (op == 1) {
      uint32_t g = v[k].group;
      v[k] = File(v[k].path, std::string(1 + rng() % 9000, 'y'), 0644, 1800000000);
      v[k].group = g;
    } else {
      v.erase(v.begin() + static_cast<long>(k));
    }
    auto next = BuildArtifact(store_.get(), v, opts);
    ASSERT_TRUE(next.ok());
    std::vector<ChunkId> base_ids = Ids(*base);
    std::multiset<ChunkId> before(base_ids.begin(), base_ids.end());
    size_t fresh = 0;
    for (const auto& id : Ids(*next)) {
      if (!before.count(id)) ++fresh;
    }
    EXPECT_LE(fresh, 2u) << "trial " << trial << " op " << op << " grouped " << grouped
                         << " segments " << base->segments;
  }
}

// Package order: installing a package whose files land in the same directories as the installed
// ones (between them in path order) adds the new package's segments and leaves every other
// segment as it was (no directory is new or changed here); the image still unpacks segment by
// segment (directories first, so parents precede children). In path order the same install changes
// segments all over the image.
TEST_F(ImageBuildTest, PackageOrderStoresAPackageInstallAsItsOwnSegments) {
  std::mt19937_64 rng(11);
  auto noise = [&](size_t n) {  // incompressible, so segment sizes are what the test says
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
  };
  auto package = [&](std::vector<TreeEntry>* t, const std::string& name, uint32_t group) {
    std::string list = "/.\n/usr\n/usr/bin\n";
    for (int i = 0; i < 12; ++i) {
      for (std::string d : {"usr/bin/", "usr/share/doc/", "usr/share/man/man1/", "usr/lib/"}) {
        std::string p = d + name + std::to_string(i);
        t->push_back(File(p, noise(20000 + rng() % 30000)));
        t->back().group = group;
        list += "/" + p + "\n";
      }
    }
    t->push_back(File("var/lib/dpkg/info/" + name + ".list", list));
    t->back().group = group;
  };
  std::vector<TreeEntry> v1;
  v1.push_back(File("etc/hostname", "n1\n"));
  package(&v1, "aa", 1);
  package(&v1, "cc", 2);
  std::vector<TreeEntry> v2 = v1;
  for (auto& e : v2) e.group = e.group == 2 ? 3 : e.group;  // numbers shift; the order does not
  package(&v2, "bb", 2);

  auto a = BuildArtifact(store_.get(), v1, {});
  auto b = BuildArtifact(store_.get(), v2, {});
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_GE(a->segments, 6u);
  std::vector<ChunkId> a_ids = Ids(*a), b_ids = Ids(*b);
  std::set<ChunkId> in_b(b_ids.begin(), b_ids.end());
  size_t lost = 0;
  for (const auto& id : a_ids) lost += in_b.count(id) ? 0 : 1;
  EXPECT_EQ(lost, 0u);  // the directories are unchanged here (TreeEntry mtimes are fixed)

  // Every segment new in v2 holds only bb's files (or directories).
  std::set<ChunkId> in_a(a_ids.begin(), a_ids.end());
  auto segs = Segments(b->manifest);
  for (size_t i = 0; i < b_ids.size(); ++i) {
    if (in_a.count(b_ids[i])) continue;
    auto parsed = ParseNewc(segs[i]);
    ASSERT_TRUE(parsed.ok());
    for (const auto& e : *parsed) {
      if (S_ISDIR(e.h.mode)) continue;
      EXPECT_NE(e.name.find("bb"), std::string::npos) << e.name;
    }
  }

  // Unpacked one segment at a time by the system cpio: the whole tree is there.
  std::string f = dir_ + "/seg.cpio", out = dir_ + "/pkg";
  ASSERT_TRUE(MakeDirs(out).ok());
  for (const auto& seg : segs) {
    ASSERT_TRUE(WriteFileAtomic(f, seg).ok());
    ASSERT_EQ(Sh("cd " + out + " && cpio -idm --quiet < " + f), 0);
  }
  for (const auto& e : v2) {
    auto got = ReadFileToString(out + "/" + e.path);
    ASSERT_TRUE(got.ok()) << e.path;
    EXPECT_EQ(*got, *e.content) << e.path;
  }

  // The same install in path order (no groups) changes segments of aa and cc too.
  for (auto* t : {&v1, &v2}) {
    for (auto& e : *t) e.group = 0;
  }
  auto pa = BuildArtifact(store_.get(), v1, {});
  auto pb = BuildArtifact(store_.get(), v2, {});
  ASSERT_TRUE(pa.ok() && pb.ok());
  std::vector<ChunkId> pb_ids = Ids(*pb);
  std::set<ChunkId> in_pb(pb_ids.begin(), pb_ids.end());
  size_t path_lost = 0;
  for (const auto& id : Ids(*pa)) path_lost += in_pb.count(id) ? 0 : 1;
  EXPECT_GT(path_lost, 1u);
}

TEST_F(ImageBuildTest, AFileOfTwoMiBStandsAloneOnlyOutsideAPackage) {
  const std::string big(2u << 20, 'x');
  std::vector<TreeEntry> t;
  t.push_back(File("opt/big", big));  // no package: 1 MiB or more stands alone
  for (const char* p : {"usr/a/one", "usr/a/two", "usr/bin/big"}) {
    t.push_back(File(p, std::string(p) == "usr/bin/big" ? big : std::string(100, 'y')));
    t.back().group = 1;  // one package: below 4 MiB, a file shares its package's segment
  }
  auto a = BuildArtifact(store_.get(), t, {});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  std::map<std::string, size_t> entries_with;  // file -> files in its segment
  for (const auto& seg : Segments(a->manifest)) {
    auto parsed = ParseNewc(seg);
    ASSERT_TRUE(parsed.ok());
    std::vector<std::string> files;
    for (const auto& e : *parsed) {
      if (S_ISREG(e.h.mode)) files.push_back(e.name);
    }
    for (const auto& f : files) entries_with[f] = files.size();
  }
  EXPECT_EQ(entries_with["opt/big"], 1u);
  EXPECT_EQ(entries_with["usr/bin/big"], 3u);
}

TEST_F(ImageBuildTest, BadInputsAreRejectedAndNothingIsStored) {
  auto expect_bad = [&](std::vector<TreeEntry> t, const std::string& needle) {
    auto r = BuildArtifact(store_.get(), std::move(t), {});
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    EXPECT_NE(r.status().ToString().find(needle), std::string::npos) << r.status().ToString();
  };
  expect_bad({File("a", "1"), File("a", "2")}, "duplicate path");
  expect_bad({File("/abs", "1")}, "/abs");
  expect_bad({File("x/../y", "1")}, "x/../y");
  expect_bad({File("x//y", "1")}, "x//y");
  TreeEntry huge = File("big.img", "");
  huge.size = 5ull << 30;
  huge.content.reset();
  expect_bad({huge}, "big.img");
  expect_bad({File("f", "1"), File("f/child", "2")}, "not a directory");
  EXPECT_TRUE(ListDir(dir_ + "/store/manifests")->empty());
  EXPECT_TRUE(ListDir(dir_ + "/store/chunks")->empty());
}

// A layer unpacked over an image (kernel modules) must not carry "lib": on a usr-merged image
// that entry would replace the "lib -> usr/lib" symlink with an empty directory.
TEST_F(ImageBuildTest, OmittedDirectoriesAreNeitherEmittedNorSynthesized) {
  ImageBuildOptions o;
  o.omit_dirs = {"lib"};
  auto r = BuildArtifact(store_.get(),
                         {Dir("lib"), Dir("lib/modules/6.1", 0700), File("lib/modules/6.1/a.ko", "x")},
                         o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::string> names;
  for (const auto& seg : Segments(r->manifest)) {
    auto entries = ParseNewc(seg);
    ASSERT_TRUE(entries.ok());
    for (const auto& e : *entries) names.push_back(e.name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"lib/modules", "lib/modules/6.1", "lib/modules/6.1/a.ko"}));
}

TEST_F(ImageBuildTest, UnreadableSourceFailsNamingTheFile) {
  TreeEntry e;
  e.path = "etc/missing";
  e.mode = S_IFREG | 0644;
  e.size = 10;
  e.source_path = dir_ + "/does-not-exist";
  auto r = BuildArtifact(store_.get(), {e}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().ToString().find("does-not-exist"), std::string::npos);
}

// A file that is shorter than the walk saw (it shrank in between) fails the import, naming it,
// whether its bytes are read into a segment in memory (small) or streamed (large).
TEST_F(ImageBuildTest, AFileThatShrankFailsNamingIt) {
  for (uint64_t claimed : {uint64_t{4096}, uint64_t{80} << 20}) {
    std::string path = dir_ + "/shrank";
    ASSERT_TRUE(WriteFileAtomic(path, std::string(100, 'x')).ok());
    TreeEntry e;
    e.path = "etc/shrank";
    e.mode = S_IFREG | 0644;
    e.size = claimed;
    e.source_path = path;
    auto r = BuildArtifact(store_.get(), {File("a", "1"), e}, {});
    ASSERT_FALSE(r.ok()) << claimed;
    EXPECT_NE(r.status().ToString().find("shrank"), std::string::npos) << r.status().ToString();
    EXPECT_NE(r.status().ToString().find(path), std::string::npos) << r.status().ToString();
  }
}

TEST_F(ImageBuildTest, LargeFileIsStreamedAndBlobsStoreRawWhenIncompressible) {
  std::string big = dir_ + "/big";
  {
    UniqueFd fd(open(big.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    std::string block(1 << 20, '\0');
    for (int i = 0; i < 70; ++i) {
      for (size_t j = 0; j < block.size(); j += 4096) block[j] = static_cast<char>(i + j);
      ASSERT_TRUE(WriteAll(fd.get(), block.data(), block.size(), "big").ok());
    }
  }
  TreeEntry e;
  e.path = "var/big";
  e.mode = S_IFREG | 0644;
  e.size = 70u << 20;
  e.source_path = big;
  auto r = BuildArtifact(store_.get(), {File("a", "1"), e}, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string out = dir_ + "/exported";
  {
    UniqueFd fd(open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    ASSERT_TRUE(ExportArtifact(*store_, r->manifest, ExportFormat::kNone, fd.get()).ok());
  }
  std::string exported = *ReadFileToString(out);
  auto parsed = ParseNewc(exported);
  ASSERT_TRUE(parsed.ok());
  std::string expected = *ReadFileToString(big);
  bool found = false;
  for (const auto& en : *parsed) {
    if (en.name == "var/big") {
      found = true;
      EXPECT_TRUE(en.data == expected) << "streamed file content differs";
    }
  }
  EXPECT_TRUE(found);

  std::string noise(9 << 20, '\0');
  uint32_t x = 1;
  for (char& c : noise) {
    x = x * 1664525 + 1013904223;
    c = static_cast<char>(x >> 24);
  }
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/vmlinuz", noise).ok());
  auto k = StoreBlob(store_.get(), dir_ + "/vmlinuz", ArtifactKind::kKernel, {{"kernel_version", "6.1"}});
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->manifest.chunks.size(), 3u);  // 4 + 4 + 1 MiB
  EXPECT_EQ(k->manifest.chunks[0].encoding, ChunkEncoding::kRaw);
  EXPECT_EQ(k->manifest.total_raw_size, noise.size());
  EXPECT_EQ(*k->manifest.Meta("kernel_version"), "6.1");
}

}  // namespace
}  // namespace sw
