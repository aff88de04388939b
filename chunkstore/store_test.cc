#include "chunkstore/store.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "chunkstore/codec.h"
#include "common/fs_util.h"
#include "gtest/gtest.h"

namespace sw {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "/store_" + RandomHex(6);
    auto s = Store::Open(root_, StoreOptions{.create = true});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(root_).ok()); }
  static ByteSpan Span(const std::string& s) {
    return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  std::string root_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, OpenRules) {
  EXPECT_TRUE(Store::Open(root_ + "/nope", {}).status().IsNotFound());
  std::string junk = root_ + "/junk";
  ASSERT_TRUE(MakeDirs(junk).ok());
  ASSERT_TRUE(WriteFileAtomic(junk + "/file", "x").ok());
  EXPECT_TRUE(Store::Open(junk, StoreOptions{.create = true}).status().IsInvalidArgument());
  EXPECT_TRUE(Store::Open(root_, {}).ok());  // existing store opens without create
  setenv("STORMWULF_STORE", "/from/env", 1);
  EXPECT_EQ(Store::DefaultRoot(""), "/from/env");
  EXPECT_EQ(Store::DefaultRoot("/flag"), "/flag");
  unsetenv("STORMWULF_STORE");
  EXPECT_EQ(Store::DefaultRoot(""), "/var/lib/stormwulf/store");
}

TEST_F(StoreTest, ChunkRoundTripAndVerify) {
  std::string raw = "hello chunk store";
  ChunkId id = ChunkId::Of(raw);
  EXPECT_FALSE(*store_->HasChunk(id));
  EncodedChunk e = EncodeChunk(Span(raw), 3, false);
  ASSERT_TRUE(store_->PutChunk(id, Span(e.stored)).ok());
  ASSERT_TRUE(store_->PutChunk(id, Span(e.stored)).ok());  // idempotent
  EXPECT_TRUE(*store_->HasChunk(id));
  EXPECT_EQ(store_->ChunkPath(id), root_ + "/chunks/" + id.Hex().substr(0, 2) + "/" + id.Hex());
  auto back = store_->ReadChunkRaw(id, true);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, raw);
  // A chunk whose bytes do not hash to its name is corruption when verified.
  ChunkId wrong = ChunkId::Of(std::string("other"));
  ASSERT_TRUE(store_->PutChunk(wrong, Span(e.stored)).ok());
  EXPECT_TRUE(store_->ReadChunkRaw(wrong, true).status().IsCorruption());
  EXPECT_TRUE(store_->ReadChunkRaw(ChunkId::Of(std::string("absent")), true).status().IsNotFound());
  // No temp files left.
  EXPECT_TRUE(ListDir(store_->TmpDir())->empty());
}

TEST_F(StoreTest, ConcurrentPutsOfOneChunkFromThreadsAndProcesses) {
  std::string raw(300000, 'z');
  ChunkId id = ChunkId::Of(raw);
  std::string stored = EncodeChunk(Span(raw), 3, false).stored;
  std::vector<pid_t> kids;
  for (int p = 0; p < 3; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = Store::Open(root_, {});
      for (int i = 0; i < 20; ++i) {
        if (!s.ok() || !(*s)->PutChunk(id, Span(stored)).ok()) _exit(1);
      }
      _exit(0);
    }
    kids.push_back(pid);
  }
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (!store_->PutChunk(id, Span(stored)).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (pid_t pid : kids) {
    int st;
    waitpid(pid, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*store_->ReadChunkRaw(id, true), raw);
}

TEST_F(StoreTest, BatchCommitAndAbort) {
  std::vector<ChunkId> ids;
  {
    ChunkBatch batch(store_.get());
    for (int i = 0; i < 10; ++i) {
      std::string raw = "batch chunk " + std::to_string(i);
      ids.push_back(ChunkId::Of(raw));
      auto added = batch.Add(ids.back(), Span(EncodeChunk(Span(raw), 3, false).stored));
      ASSERT_TRUE(added.ok());
      EXPECT_TRUE(*added);
      EXPECT_FALSE(*batch.Add(ids.back(), Span(raw)));  // same id twice: once
    }
    EXPECT_EQ(batch.new_chunks(), 10u);
    EXPECT_FALSE(*store_->HasChunk(ids[0]));  // invisible until commit
    ASSERT_TRUE(batch.Commit().ok());
  }
  for (const auto& id : ids) EXPECT_TRUE(*store_->HasChunk(id));
  {
    ChunkBatch batch(store_.get());
    EXPECT_FALSE(*batch.Add(ids[0], Span(std::string("x"))));  // already in the store
    std::string raw = "never committed";
    ASSERT_TRUE(*batch.Add(ChunkId::Of(raw), Span(raw)));
  }  // destroyed without Commit: temps removed
  EXPECT_FALSE(*store_->HasChunk(ChunkId::Of(std::string("never committed"))));
  EXPECT_TRUE(ListDir(store_->TmpDir())->empty());
}

TEST_F(StoreTest, BatchPublishesManifestsAndRefsOnlyAtCommit) {
  std::string raw = "overlay segment";
  ChunkId cid = ChunkId::Of(raw);
  Manifest m;
  m.kind = ArtifactKind::kOverlay;
  m.chunks.push_back({cid, raw.size(), raw.size(), ChunkEncoding::kRaw});
  m.total_raw_size = raw.size();
  ChunkId old_id;
  {
    Manifest old;
    old.kind = ArtifactKind::kOverlay;
    old_id = *store_->PutManifest(old);
    ASSERT_TRUE(store_->SetRef("overlays/n1/system", old_id).ok());
  }
  {
    ChunkBatch batch(store_.get());
    ASSERT_TRUE(*batch.Add(cid, Span(EncodeChunk(Span(raw), 3, false).stored)));
    EXPECT_TRUE(batch.Staged(cid).has_value());
    EXPECT_FALSE(batch.Staged(ChunkId::Of(std::string("other"))).has_value());
    auto mid = batch.AddManifest(m);
    ASSERT_TRUE(mid.ok());
    EXPECT_EQ(*mid, m.Id());
    EXPECT_EQ(*batch.AddManifest(m), *mid);  // twice: staged once
    ASSERT_TRUE(batch.SetRef("overlays/n1/system", *mid).ok());
    ASSERT_TRUE(batch.SetRef("overlays/n2/system", *mid).ok());
    EXPECT_TRUE(batch.SetRef("../escape", *mid).IsInvalidArgument());
    // Nothing is visible before Commit: the old ref still names the old manifest.
    EXPECT_FALSE(*store_->HasManifest(*mid));
    EXPECT_EQ(*store_->GetRef("overlays/n1/system"), old_id);
    EXPECT_TRUE(store_->GetRef("overlays/n2/system").status().IsNotFound());
    ASSERT_TRUE(batch.Commit().ok());
    EXPECT_TRUE(*store_->HasChunk(cid));
    EXPECT_TRUE(store_->GetManifest(*mid).ok());
    EXPECT_EQ(*store_->GetRef("overlays/n1/system"), *mid);
    EXPECT_EQ(*store_->GetRef("overlays/n2/system"), *mid);
  }
  {  // An abandoned batch leaves refs, manifests and tmp/ as they were.
    ChunkBatch batch(store_.get());
    Manifest other;
    other.kind = ArtifactKind::kImage;
    auto oid = batch.AddManifest(other);
    ASSERT_TRUE(oid.ok());
    ASSERT_TRUE(batch.SetRef("overlays/n1/system", *oid).ok());
  }
  EXPECT_EQ(*store_->GetRef("overlays/n1/system"), m.Id());
  EXPECT_TRUE(ListDir(store_->TmpDir())->empty());
}

TEST_F(StoreTest, ManifestsAreContentAddressedAndVerified) {
  Manifest m;
  m.kind = ArtifactKind::kKernel;
  m.SetMeta("kernel_version", "6.1");
  auto id = store_->PutManifest(m);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, m.Id());
  auto back = store_->GetManifest(*id);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back->Meta("kernel_version"), "6.1");
  // Flip a byte of the file: corruption.
  std::string path = store_->ManifestPath(*id);
  std::string bytes = *ReadFileToString(path);
  bytes[5] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(path, bytes).ok());
  EXPECT_TRUE(store_->GetManifest(*id).status().IsCorruption());
}

TEST_F(StoreTest, RefsAreValidatedAtomicAndListed) {
  ChunkId a = ChunkId::Of(std::string("a")), b = ChunkId::Of(std::string("b"));
  ASSERT_TRUE(store_->SetRef("images/rocky9", a).ok());
  ASSERT_TRUE(store_->SetRef("overlays/n0001/system", b).ok());
  ASSERT_TRUE(store_->SetRef("images/rocky9", b).ok());
  EXPECT_EQ(*store_->GetRef("images/rocky9"), b);
  for (const char* bad : {"rocky9", "images/", "images/../x", "images/a b", "images//x",
                          "bogus/x", "images/x.tmp.123", "images/."}) {
    EXPECT_TRUE(store_->SetRef(bad, a).IsInvalidArgument()) << bad;
  }
  auto all = store_->ListRefs("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].first, "images/rocky9");
  EXPECT_EQ((*all)[1].first, "overlays/n0001/system");
  EXPECT_EQ(store_->ListRefs("overlays/")->size(), 1u);
  ASSERT_TRUE(store_->DeleteRef("overlays/n0001/system").ok());
  EXPECT_TRUE(store_->DeleteRef("overlays/n0001/system").IsNotFound());
  EXPECT_TRUE(store_->GetRef("overlays/n0001/system").status().IsNotFound());
  struct stat st;
  EXPECT_NE(stat((root_ + "/refs/overlays/n0001").c_str(), &st), 0);  // empty parent removed
}

// Large batches (an overlay build of thousands of nodes) write their refs into one packed-refs
// file; a loose ref file shadows a packed entry until a packed write of that name removes it.
TEST_F(StoreTest, PackedRefsFromLargeBatchesAndLooseShadowing) {
  Manifest m;
  m.kind = ArtifactKind::kOverlay;
  const ChunkId mid = *store_->PutManifest(m);
  const ChunkId other = ChunkId::Of(std::string("other"));
  ASSERT_TRUE(store_->SetRef("overlays/n000/system", other).ok());  // loose, from an older build
  {
    ChunkBatch batch(store_.get());
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(batch.SetRef("overlays/n" + std::to_string(1000 + i) + "/system", mid).ok());
    }
    ASSERT_TRUE(batch.SetRef("overlays/n000/system", mid).ok());
    ASSERT_TRUE(batch.Commit().ok());
  }
  struct stat st;
  EXPECT_EQ(stat((root_ + "/packed-refs").c_str(), &st), 0);
  EXPECT_NE(stat((root_ + "/refs/overlays/n1000").c_str(), &st), 0) << "no file per ref";
  EXPECT_NE(stat((root_ + "/refs/overlays/n000").c_str(), &st), 0) << "the shadowing file went";
  EXPECT_EQ(*store_->GetRef("overlays/n1042/system"), mid);
  EXPECT_EQ(*store_->GetRef("overlays/n000/system"), mid);
  EXPECT_EQ(store_->ListRefs("overlays/")->size(), 101u);
  EXPECT_EQ(store_->ListRefs("overlays/n10")->size(), 100u);

  // Another Store object (stormwulfd) sees later rewrites; a loose SetRef wins over packed.
  auto reader = Store::Open(root_, {});
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(*(*reader)->GetRef("overlays/n1007/system"), mid);
  ASSERT_TRUE(store_->SetRefsPacked({{"overlays/n1007/system", other}}).ok());
  EXPECT_EQ(*(*reader)->GetRef("overlays/n1007/system"), other);
  ASSERT_TRUE(store_->SetRef("overlays/n1008/system", other).ok());
  EXPECT_EQ(*(*reader)->GetRef("overlays/n1008/system"), other);
  EXPECT_EQ(store_->ListRefs("overlays/")->size(), 101u) << "a shadowed name is listed once";

  // Delete: loose and packed, many at once; absent names are not an error for DeleteRefs.
  ASSERT_TRUE(store_->DeleteRef("overlays/n1008/system").ok());  // both copies
  EXPECT_TRUE(store_->GetRef("overlays/n1008/system").status().IsNotFound());
  auto n = store_->DeleteRefs({"overlays/n1000/system", "overlays/n1001/system", "overlays/x/y"});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(store_->ListRefs("")->size(), 98u);
  EXPECT_TRUE(store_->DeleteRef("overlays/n1000/system").IsNotFound());
  EXPECT_TRUE(store_->SetRefsPacked({{"overlays/ok/system", mid}, {"../bad", mid}})
                  .IsInvalidArgument());
  EXPECT_TRUE(store_->GetRef("overlays/ok/system").status().IsNotFound()) << "all or nothing";

  // A damaged packed-refs is Corruption, never "no such ref".
  std::string text = *ReadFileToString(root_ + "/packed-refs");
  ASSERT_TRUE(WriteFileAtomic(root_ + "/packed-refs", text.substr(0, text.size() / 2)).ok());
  EXPECT_TRUE(store_->GetRef("overlays/n1050/system").status().IsCorruption());
  EXPECT_TRUE(store_->ListRefs("").status().IsCorruption());
}

TEST_F(StoreTest, EveryRefChangeMovesTheRefsGeneration) {
  Manifest m;
  m.kind = ArtifactKind::kOverlay;
  const ChunkId mid = *store_->PutManifest(m);
  auto gen = [&] { return *store_->RefsGeneration(); };
  EXPECT_EQ(gen(), 0u) << "a new store";
  uint64_t g = gen();
  auto moved = [&] {
    uint64_t now = gen();
    bool up = now > g;
    g = now;
    return up;
  };
  ASSERT_TRUE(store_->SetRef("images/a", mid).ok());
  EXPECT_TRUE(moved()) << "SetRef";
  ASSERT_TRUE(store_->SetRefsPacked({{"overlays/n1/system", mid}}).ok());
  EXPECT_TRUE(moved()) << "SetRefsPacked";
  {
    ChunkBatch batch(store_.get());
    ASSERT_TRUE(batch.SetRef("overlays/n2/system", mid).ok());
    ASSERT_TRUE(batch.Commit().ok());
  }
  EXPECT_TRUE(moved()) << "a batch with loose refs";
  {
    ChunkBatch batch(store_.get());
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(batch.SetRef("overlays/m" + std::to_string(i) + "/system", mid).ok());
    }
    ASSERT_TRUE(batch.Commit().ok());
  }
  EXPECT_TRUE(moved()) << "a batch with packed refs";
  ASSERT_TRUE(store_->DeleteRef("images/a").ok());
  EXPECT_TRUE(moved()) << "DeleteRef";
  EXPECT_EQ(*store_->DeleteRefs({"images/none"}), 0u);
  EXPECT_FALSE(moved()) << "deleting nothing changes nothing";
  // Another Store object (stormwulfd's) reads the same counter.
  auto reader = Store::Open(root_, {});
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(*(*reader)->RefsGeneration(), g);
}

TEST_F(StoreTest, WritersShareTheLockAndGcExcludesThem) {
  auto w1 = store_->LockShared();
  auto w2 = store_->LockShared();
  ASSERT_TRUE(w1.ok() && w2.ok());
  EXPECT_TRUE(store_->TryLockExclusive().status().IsUnavailable());
  *w1 = StoreLock();
  *w2 = StoreLock();
  EXPECT_TRUE(store_->TryLockExclusive().ok());
}

}  // namespace
}  // namespace sw
