// Tests of the real swctl binary (found via $SW_BUILD_DIR): image import/export round trip
// unpacked with the system cpio, bad inputs leave the ref unchanged, and kill -9 during import
// and gc never damages the previous version of a ref.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tools/cli_test_util.h"

namespace {

namespace fs = std::filesystem;

using sw::testing::Proc;
using sw::testing::Sh;
using sw::testing::Swctl;

class CmdTest : public sw::testing::SwctlFixture {
 protected:
  std::string Sha256Of(const std::string& name) {
    Proc r = Cmd("image show " + name + " --json");
    EXPECT_EQ(r.rc, 0) << r.out;
    size_t p = r.out.find("\"sha256\":\"");
    if (p == std::string::npos) return "";
    return r.out.substr(p + 10, 64);
  }
  // A tree with a realistic mix: text, binary, hardlinks, symlinks, empty dirs, devices.
  void MakeTree(const std::string& root, int files, uint32_t seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < files; ++i) {
      std::string d = root + "/d" + std::to_string(i % 7) + "/s" + std::to_string(i % 3);
      size_t size = rng() % 3 == 0 ? rng() % 200000 : rng() % 2000;
      std::string data(size, '\0');
      for (size_t j = 0; j < size; ++j) data[j] = static_cast<char>(j % 17 == 0 ? rng() : 'a' + j % 26);
      Write(d + "/f" + std::to_string(i), data);
    }
    Write(root + "/etc/hostname", "node\n");
    ASSERT_EQ(link((root + "/etc/hostname").c_str(), (root + "/etc/hostname2").c_str()), 0);
    ASSERT_EQ(symlink("hostname", (root + "/etc/sym").c_str()), 0);
    fs::create_directories(root + "/empty/dir");
    chmod((root + "/etc/hostname").c_str(), 0600);
    if (geteuid() == 0) {
      fs::create_directories(root + "/dev");
      mknod((root + "/dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3));
      mknod((root + "/dev/console").c_str(), S_IFCHR | 0600, makedev(5, 1));
      chown((root + "/etc/hostname").c_str(), 123, 456);
      lchown((root + "/etc/sym").c_str(), 7, 8);
    }
  }
  void RoundTrip(const std::string& src, std::string* import_output = nullptr);
  // Lists "path type mode uid gid mtime size target rdev" and hardlink groups, sorted.
  std::string Describe(const std::string& root) {
    Proc r = Sh("cd " + root +
               " && find . -mindepth 1 -printf '%P %y %m %U %G %T@ %s %l %D\\n' | "
               "grep -v ' d ' | sed -E 's/ [0-9]*$//; s/\\.[0-9]+ / /' | "
               // GNU cpio -m does not restore symlink mtimes.
               "awk '$2==\"l\"{$6=\"-\"}1' | sort; "
               "find . -mindepth 1 -type d -printf '%P %m %U %G\\n' | sort; "
               "find . -type c -exec stat -c '%n %t %T' {} + | sort; "
               "find . -type f -links +1 -printf '%i %P\\n' | sort | awk '{print $1}' | uniq -c | "
               "awk '{print $1}'");
    return r.out;
  }
};

TEST_F(CmdTest, HelpAndUsage) {
  EXPECT_EQ(Sh(Swctl() + " image --help").rc, 0);
  EXPECT_EQ(Sh(Swctl() + " image import --help").rc, 0);
  EXPECT_EQ(Sh(Swctl() + " image export --help").rc, 0);
  EXPECT_EQ(Cmd("image import").rc, 2);
  EXPECT_EQ(Cmd("image import a b c d").rc, 2);
  EXPECT_EQ(Cmd("image bogus").rc, 2);
}

// Imports src as "img" (its summary into *import_output), exports it in every format and checks
// that each unpacks to src.
void CmdTest::RoundTrip(const std::string& src, std::string* import_output) {
  Proc r = Cmd("image import " + src + " img --no-kernel --no-default-excludes");
  ASSERT_EQ(r.rc, 0) << r.out;
  if (import_output != nullptr) *import_output = r.out;
  r = Cmd("image list");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("img"), std::string::npos);
  r = Cmd("image show img");
  EXPECT_EQ(r.rc, 0) << r.out;
  std::string want = Describe(src);

  // zstd export: unpack each frame with the system cpio (GNU cpio stops at the first TRAILER).
  for (std::string fmt : {"zstd", "none", "gzip"}) {
    std::string file = dir_ + "/img." + fmt;
    r = Cmd("image export img " + file + " --format " + fmt);
    ASSERT_EQ(r.rc, 0) << fmt << ": " << r.out;
    if (fmt == "none") {
      // Split by the manifest's segment sizes and unpack each segment.
      Proc j = Cmd("image show img --json");
      ASSERT_EQ(j.rc, 0);
      std::vector<uint64_t> sizes;
      for (size_t p = 0; (p = j.out.find("\"raw\":", p)) != std::string::npos; p += 6) {
        sizes.push_back(std::stoull(j.out.substr(p + 6)));
      }
      ASSERT_FALSE(sizes.empty());
      std::string out = dir_ + "/unpack-none";
      fs::create_directories(out);
      uint64_t off = 0;
      for (uint64_t s : sizes) {
        std::string cmd = "cd " + out + " && tail -c +" + std::to_string(off + 1) + " " + file +
                          " | head -c " + std::to_string(s) + " | cpio -idm --quiet";
        if (geteuid() != 0) cmd += " --no-preserve-owner";
        ASSERT_EQ(Sh(cmd).rc, 0);
        off += s;
      }
      EXPECT_EQ(off, fs::file_size(file));
      EXPECT_EQ(Describe(out), want);
    } else if (fmt == "zstd") {
      // Concatenated frames: unpack each one separately, via a helper that splits frames with
      // zstd's own frame sizes (stored sizes from the manifest).
      Proc j = Cmd("image show img --json");
      std::vector<uint64_t> sizes;
      for (size_t p = 0; (p = j.out.find("\"stored\":", p)) != std::string::npos; p += 9) {
        sizes.push_back(std::stoull(j.out.substr(p + 9)));
      }
      ASSERT_GE(sizes.size(), 2u);
      sizes.erase(sizes.begin());  // the image-level "stored" total comes first
      std::string out = dir_ + "/unpack-zstd";
      fs::create_directories(out);
      uint64_t off = 0;
      for (uint64_t s : sizes) {
        std::string cmd = "cd " + out + " && tail -c +" + std::to_string(off + 1) + " " + file +
                          " | head -c " + std::to_string(s) + " | zstd -dc | cpio -idm --quiet";
        ASSERT_EQ(Sh(cmd).rc, 0);
        off += s;
      }
      EXPECT_EQ(off, fs::file_size(file));
      EXPECT_EQ(Describe(out), want);
    } else {
      // gzip: one cpio archive across all members (Warewulf's clients run gzip -d | cpio -i).
      std::string out = dir_ + "/unpack-gz";
      fs::create_directories(out);
      std::string cmd = "cd " + out + " && gzip -dc " + file + " | cpio -idm --quiet";
      if (geteuid() != 0) cmd += " --no-preserve-owner";
      ASSERT_EQ(Sh(cmd).rc, 0);
      EXPECT_EQ(Describe(out), want);
    }
  }
  // The segment sha256 matches the raw export.
  Proc s = Sh("sha256sum " + dir_ + "/img.none");
  EXPECT_EQ(s.out.substr(0, 64), Sha256Of("img"));

  // delete removes the ref only.
  EXPECT_EQ(Cmd("image delete img").rc, 0);
  EXPECT_NE(Cmd("image show img").rc, 0);
}

TEST_F(CmdTest, RoundTripThroughCpio) {
  std::string src = dir_ + "/src";
  MakeTree(src, 300, 1);
  RoundTrip(src);
}

// With a dpkg database the image is in package order (directories first, then each package's
// files together, chunkstore/package_groups.h); it must unpack to the same tree in every format.
TEST_F(CmdTest, PackageOrderedImageRoundTripsThroughCpio) {
  std::string src = dir_ + "/src";
  MakeTree(src, 300, 2);
  std::string a, b;
  for (int i = 0; i < 300; ++i) {
    std::string p =
        "/d" + std::to_string(i % 7) + "/s" + std::to_string(i % 3) + "/f" + std::to_string(i);
    (i % 2 ? a : b) += p + "\n";
  }
  Write(src + "/var/lib/dpkg/info/pkg-a.list", "/.\n/d0\n/etc/sym\n" + a);
  Write(src + "/var/lib/dpkg/info/pkg-a.md5sums", "");
  Write(src + "/var/lib/dpkg/info/pkg-b.list", b);
  std::string summary;
  RoundTrip(src, &summary);
  EXPECT_NE(summary.find("packages 2 (dpkg)"), std::string::npos) << summary;
}

TEST_F(CmdTest, KernelIsStoredAndLinked) {
  std::string src = dir_ + "/src";
  Write(src + "/boot/vmlinuz-6.1.0-1", "old kernel");
  Write(src + "/boot/vmlinuz-6.10.0-2", "new kernel");
  Write(src + "/boot/vmlinuz-6.11.0-1+debug", "debug kernel");
  Write(src + "/etc/x", "x");
  Proc r = Cmd("image import " + src + " k --quiet");
  ASSERT_EQ(r.rc, 0) << r.out;
  r = Cmd("image show k --json");
  EXPECT_NE(r.out.find("\"kernel_version\":\"6.10.0-2\""), std::string::npos) << r.out;
  // The image manifest links its kernel; refs/kernels/ is for `swctl kernel import` only.
  EXPECT_FALSE(fs::exists(store_ + "/refs/kernels/k"));
  r = Cmd("image export k " + dir_ + "/k.vmlinuz --kernel");
  ASSERT_EQ(r.rc, 0) << r.out;
  std::ifstream kf(dir_ + "/k.vmlinuz");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kf), {}), "new kernel");
  r = Cmd("image import " + src + " k2 --quiet --no-kernel");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(Cmd("image export k2 " + dir_ + "/k2.vmlinuz --kernel").rc, 0);
}

TEST_F(CmdTest, BadInputsCommitNothing) {
  std::string src = dir_ + "/src";
  MakeTree(src, 20, 2);
  ASSERT_EQ(Cmd("image import " + src + " img --quiet --no-kernel").rc, 0);
  std::string before = Sha256Of("img");
  ASSERT_EQ(before.size(), 64u);

  std::string bad = dir_ + "/bad";
  Write(bad + "/a/file", "data");
  Sh("cd " + bad + "/a && tar -P -cf " + dir_ + "/dotdot.tar ../a/file");
  Sh("tar -P -cf " + dir_ + "/abs.tar " + bad + "/a/file");
  fs::create_directories(bad + "/esc");
  symlink("/etc", (bad + "/esc/link").c_str());
  Sh("tar -C " + bad + "/esc -cf " + dir_ + "/esc.tar link");
  fs::remove(bad + "/esc/link");
  Write(bad + "/esc/link/passwd", "evil");
  Sh("tar -C " + bad + "/esc -rf " + dir_ + "/esc.tar link/passwd");
  Sh("head -c 400000 /dev/urandom > " + bad + "/big");
  Sh("tar -C " + bad + " -czf " + dir_ + "/trunc.tgz big && truncate -s 70000 " + dir_ +
     "/trunc.tgz");
  Sh("head -c 5000 /dev/urandom > " + dir_ + "/garbage.tar");
  struct Case {
    std::string file, needle;
  };
  for (const Case& c : std::vector<Case>{{"dotdot.tar", ".."},
                                         {"abs.tar", "a/file"},
                                         {"esc.tar", "link/passwd"},
                                         {"trunc.tgz", ""},
                                         {"garbage.tar", ""},
                                         {"missing.tar", "missing.tar"}}) {
    Proc r = Cmd("image import " + dir_ + "/" + c.file + " img --quiet --no-kernel");
    EXPECT_NE(r.rc, 0) << c.file << ": " << r.out;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << c.file << ": " << r.out;
    EXPECT_EQ(Sha256Of("img"), before) << c.file;
  }
  Proc f = Cmd("store fsck");
  EXPECT_EQ(f.rc, 0) << f.out;
}

// kill -9 during import and gc at random moments: the previous version stays intact.
TEST_F(CmdTest, CrashLoop) {
  std::string a = dir_ + "/a", b = dir_ + "/b";
  MakeTree(a, 400, 3);
  MakeTree(b, 400, 4);
  ASSERT_EQ(Cmd("image import " + a + " img --quiet --no-kernel").rc, 0);
  ASSERT_EQ(Cmd("image export img " + dir_ + "/a.raw --format none").rc, 0);
  std::string sha_a = Sha256Of("img");
  std::mt19937 rng(42);
  const int kRounds = 30;
  int killed = 0;
  for (int i = 0; i < kRounds; ++i) {
    std::string src = (i % 2) ? a : b;
    bool gc = i % 3 == 2;
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      std::string sw = Swctl();
      if (gc) {
        execl(sw.c_str(), sw.c_str(), "store", "gc", "--store", store_.c_str(), nullptr);
      } else {
        execl(sw.c_str(), sw.c_str(), "image", "import", src.c_str(), "tmp", "--quiet",
              "--no-kernel", "--store", store_.c_str(), nullptr);
      }
      _exit(127);
    }
    usleep(rng() % 400000);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) ++killed;
    // The committed image is untouched.
    ASSERT_EQ(Sha256Of("img"), sha_a) << "round " << i;
  }
  std::printf("killed %d of %d runs\n", killed, kRounds);
  Proc f = Cmd("store fsck");
  EXPECT_EQ(f.rc, 0) << f.out;
  ASSERT_EQ(Cmd("store gc").rc, 0);
  Proc e = Cmd("image export img " + dir_ + "/a2.raw --format none");
  ASSERT_EQ(e.rc, 0) << e.out;
  EXPECT_EQ(Sh("sha256sum < " + dir_ + "/a2.raw").out.substr(0, 64), sha_a);
  f = Cmd("store fsck");
  EXPECT_EQ(f.rc, 0) << f.out;
  // A fresh import still works after all that.
  EXPECT_EQ(Cmd("image import " + b + " img --quiet --no-kernel").rc, 0);
}

}  // namespace
