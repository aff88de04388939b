#include "chunkstore/maintenance.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include "chunkstore/codec.h"
#include "chunkstore/image_build.h"
#include "chunkstore/tree_test_util.h"
#include "common/fs_util.h"
#include "gtest/gtest.h"

namespace sw {
namespace {

using tree_test::File;

class MaintenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "/maint_" + RandomHex(6);
    auto s = Store::Open(root_, StoreOptions{.create = true});
    ASSERT_TRUE(s.ok());
    store_ = std::move(s).value();
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(root_).ok()); }

  // An image of n text-ish files (compressible), ref'd as images/<name>.
  ChunkId Image(const std::string& name, int n, int salt) {
    std::vector<TreeEntry> t;
    for (int i = 0; i < n; ++i) {
      std::string body;
      for (int k = 0; k < 400; ++k) body += "line " + std::to_string((i * 31 + k + salt) % 97) + "\n";
      t.push_back(File("d/f" + std::to_string(i), body));
    }
    auto r = BuildArtifact(store_.get(), t, {});
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(store_->SetRef("images/" + name, r->manifest_id).ok());
    return r->manifest_id;
  }

  std::string root_;
  std::unique_ptr<Store> store_;
};

TEST_F(MaintenanceTest, GcKeepsReachableIncludingKernelsAndRemovesTheRest) {
  std::string noise(5 << 20, '\0');
  std::mt19937 rng(1);
  for (char& c : noise) c = static_cast<char>(rng());
  ASSERT_TRUE(WriteFileAtomic(root_ + "/vmlinuz", noise).ok());
  auto k = StoreBlob(store_.get(), root_ + "/vmlinuz", ArtifactKind::kKernel, {});
  ASSERT_TRUE(k.ok());
  std::vector<TreeEntry> t = {File("etc/x", "x")};
  ImageBuildOptions o;
  o.meta = {{"kernel", k->manifest_id.Hex()}};
  auto img = BuildArtifact(store_.get(), t, o);
  ASSERT_TRUE(img.ok());
  ASSERT_TRUE(store_->SetRef("images/a", img->manifest_id).ok());  // kernel only via meta
  ChunkId b = Image("b", 50, 1);
  ASSERT_TRUE(store_->DeleteRef("images/b").ok());
  ASSERT_TRUE(MakeDirs(store_->TmpDir() + "/batch-dead").ok());
  ASSERT_TRUE(WriteFileAtomic(store_->TmpDir() + "/batch-dead/x", "junk").ok());
  auto dry = CollectGarbage(store_.get(), GcOptions{.dry_run = true});
  ASSERT_TRUE(dry.ok());
  EXPECT_GT(dry->chunks_removed, 0u);
  EXPECT_TRUE(*store_->HasManifest(b));  // dry run deletes nothing
  auto r = CollectGarbage(store_.get(), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->manifests_removed, 1u);
  EXPECT_EQ(r->temps_removed, 1u);
  EXPECT_FALSE(*store_->HasManifest(b));
  for (const auto& c : k->manifest.chunks) EXPECT_TRUE(*store_->HasChunk(c.id));
  auto f = Fsck(store_.get(), {});
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->ok()) << (f->errors.empty() ? "" : f->errors[0]);
  EXPECT_TRUE(f->warnings.empty());
}

// gc keeps what packed refs reach, and deletes nothing when it cannot tell what is live: a
// damaged packed-refs, or a live manifest it cannot read. fsck reports both.
TEST_F(MaintenanceTest, GcFollowsPackedRefsAndRefusesWhenRefsAreUnreadable) {
  ChunkId a = Image("a", 30, 1);
  ChunkId b = Image("b", 30, 2);
  ASSERT_TRUE(store_->DeleteRef("images/a").ok());
  ASSERT_TRUE(store_->SetRefsPacked({{"images/a", a}}).ok());
  auto r = CollectGarbage(store_.get(), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->manifests_removed, 0u);
  EXPECT_TRUE(*store_->HasManifest(a));

  const std::string packed = *ReadFileToString(root_ + "/packed-refs");
  ASSERT_TRUE(WriteFileAtomic(root_ + "/packed-refs", "stormwulf packed refs 1\nbroken\n").ok());
  auto refused = CollectGarbage(store_.get(), {});
  EXPECT_TRUE(refused.status().IsCorruption()) << refused.status().ToString();
  EXPECT_TRUE(*store_->HasManifest(a));
  auto f = Fsck(store_.get(), {});
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->ok());

  ASSERT_TRUE(WriteFileAtomic(root_ + "/packed-refs", packed).ok());
  const Manifest bm = *store_->GetManifest(b);  // b is still ref'd (loose images/b)
  std::string mpath = store_->ManifestPath(b);
  std::string bytes = *ReadFileToString(mpath);
  bytes[9] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(mpath, bytes).ok());
  refused = CollectGarbage(store_.get(), {});
  EXPECT_TRUE(refused.status().IsCorruption()) << refused.status().ToString();
  for (const auto& c : bm.chunks) EXPECT_TRUE(*store_->HasChunk(c.id)) << "b's chunks stay";
}

TEST_F(MaintenanceTest, GcWaitsForWriters) {
  Image("a", 5, 0);
  auto writer = store_->LockShared();
  ASSERT_TRUE(writer.ok());
  std::atomic<bool> finished{false};
  std::thread gc([&] {
    EXPECT_TRUE(CollectGarbage(store_.get(), {}).ok());
    finished = true;
  });
  usleep(300000);
  EXPECT_FALSE(finished.load());  // blocked behind the writer's shared lock
  *writer = StoreLock();
  gc.join();
  EXPECT_TRUE(finished.load());
}

TEST_F(MaintenanceTest, FsckFindsEveryKindOfDamageAndRepairsWhatIsSafe) {
  ChunkId a = Image("a", 60, 2);
  auto m = store_->GetManifest(a);
  ASSERT_TRUE(m.ok());
  ASSERT_GE(m->chunks.size(), 1u);
  // Flip one byte in a chunk file (inside the zstd payload).
  std::string cpath = store_->ChunkPath(m->chunks[0].id);
  std::string bytes = *ReadFileToString(cpath);
  bytes[bytes.size() / 2] ^= 0x40;
  ASSERT_TRUE(WriteFileAtomic(cpath, bytes).ok());
  // A dangling ref and a stray temp.
  ASSERT_TRUE(store_->SetRef("images/ghost", ChunkId::Of(std::string("nothing"))).ok());
  ASSERT_TRUE(WriteFileAtomic(store_->TmpDir() + "/stray", "x").ok());
  auto f = Fsck(store_.get(), {});
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->ok());
  auto has = [&](const std::vector<std::string>& v, const std::string& needle) {
    for (const auto& s : v) {
      if (s.find(needle) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has(f->errors, "corrupt chunk"));
  EXPECT_TRUE(has(f->errors, "dangling ref: images/ghost"));
  EXPECT_TRUE(has(f->errors, "SHA-256") || has(f->errors, "chunk"));
  EXPECT_TRUE(has(f->warnings, "stray temp"));
  auto rep = Fsck(store_.get(), FsckOptions{.repair = true});
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(has(rep->repaired, "removed " + cpath));
  EXPECT_FALSE(*store_->HasChunk(m->chunks[0].id));  // a re-import rewrites it
  EXPECT_TRUE(ListDir(store_->TmpDir())->empty());
  ASSERT_TRUE(store_->DeleteRef("images/ghost").ok());
  // A flipped manifest byte.
  std::string mpath = store_->ManifestPath(a);
  std::string mb = *ReadFileToString(mpath);
  mb[10] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(mpath, mb).ok());
  auto f2 = Fsck(store_.get(), {});
  ASSERT_TRUE(f2.ok());
  EXPECT_TRUE(has(f2->errors, "manifest"));
}

TEST_F(MaintenanceTest, OptimizeShrinksKeepsIdsAndIsIncremental) {
  ChunkId a = Image("a", 200, 3);
  auto before = ComputeStats(store_.get());
  ASSERT_TRUE(before.ok());
  auto r = Optimize(store_.get(), 19, 2, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_GT(r->chunks_seen, 0u);
  EXPECT_LE(r->bytes_after, r->bytes_before);
  auto f = Fsck(store_.get(), {});
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->ok());
  auto m = store_->GetManifest(a);
  for (const auto& c : m->chunks) EXPECT_TRUE(store_->ReadChunkRaw(c.id, true).ok());
  auto again = Optimize(store_.get(), 19, 2, nullptr);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->chunks_seen, 0u);  // remembered in state/optimized-19
  auto st = ComputeStats(store_.get());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->refs, 1u);
  EXPECT_LE(st->stored_bytes, before->stored_bytes);
}

TEST_F(MaintenanceTest, GzipEncodingsForLiveChunksEqualTheGzExport) {
  ChunkId a = Image("a", 120, 5);
  std::vector<TreeEntry> loose = {File("x/only-here", std::string(5000, 'q'))};
  auto unref = BuildArtifact(store_.get(), loose, {});  // no ref: not live
  ASSERT_TRUE(unref.ok());
  std::atomic<uint64_t> calls{0};
  auto r = BuildGzipEncodings(store_.get(), 2, [&](uint64_t, uint64_t) { calls.fetch_add(1); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto m = store_->GetManifest(a);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(r->chunks_live, m->chunks.size());
  EXPECT_EQ(r->built, m->chunks.size());
  EXPECT_EQ(calls.load(), r->built);
  // The members in manifest order and the trailer member are exactly `swctl image export --gz`.
  std::string gz;
  for (const auto& c : m->chunks) {
    auto member = ReadFileToString(store_->GzChunkPath(c.id));
    ASSERT_TRUE(member.ok());
    gz += *member;
  }
  gz += GzipTrailerMember();
  std::string out = root_ + "/export.gz";
  {
    UniqueFd fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(ExportArtifact(*store_, *m, ExportFormat::kGzip, fd.get()).ok());
  }
  EXPECT_EQ(gz, *ReadFileToString(out));
  for (const auto& c : unref->manifest.chunks) {
    EXPECT_NE(::access(store_->GzChunkPath(c.id).c_str(), F_OK), 0);
  }
  // Incremental: nothing left to build; fsck accepts the .gz files.
  auto again = BuildGzipEncodings(store_.get(), 2, nullptr);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->built, 0u);
  auto f = Fsck(store_.get(), {});
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->ok());
  // A damaged chunk is refused (never gzipped from bad bytes), and says which.
  Image("b", 3, 77);
  auto mb = store_->GetManifest(*store_->GetRef("images/b"));
  const ChunkId victim = mb->chunks[0].id;
  std::string path = store_->ChunkPath(victim);
  std::string bytes = *ReadFileToString(path);
  bytes[bytes.size() / 2] ^= 0x5a;
  ASSERT_TRUE(WriteFileAtomic(path, bytes).ok());
  auto bad = BuildGzipEncodings(store_.get(), 1, nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().ToString().find(victim.Hex()), std::string::npos) << bad.status().ToString();
  EXPECT_NE(::access(store_->GzChunkPath(victim).c_str(), F_OK), 0);
}

// kill -9 at random points of gc (with an unreferenced image to delete): afterwards fsck is clean
// and the referenced image still exports with the right SHA-256.
TEST_F(MaintenanceTest, KillDuringGcLeavesAHealthyStore) {
  ChunkId keep = Image("keep", 80, 4);
  std::mt19937 rng(9);
  for (int round = 0; round < 12; ++round) {
    Image("tmp", 80, 100 + round);
    ASSERT_TRUE(store_->DeleteRef("images/tmp").ok());
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = Store::Open(root_, {});
      if (s.ok()) (void)CollectGarbage(s->get(), {});
      _exit(0);
    }
    usleep(rng() % 20000);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    auto f = Fsck(store_.get(), {});
    ASSERT_TRUE(f.ok());
    EXPECT_TRUE(f->ok()) << "round " << round << ": " << (f->errors.empty() ? "" : f->errors[0]);
    auto m = store_->GetManifest(keep);
    ASSERT_TRUE(m.ok());
    std::string out = root_ + "/export";
    UniqueFd fd(open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    EXPECT_TRUE(ExportArtifact(*store_, *m, ExportFormat::kNone, fd.get()).ok()) << round;
  }
}

}  // namespace
}  // namespace sw
