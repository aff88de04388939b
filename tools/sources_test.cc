// Tests of tools/sources.h on real files: directory walks, tars built with the system `tar`,
// OCI layouts and docker-save archives written by the test, excludes and kernel detection.
#include "tools/sources.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "gtest/gtest.h"

namespace sw {
namespace {

namespace fs = std::filesystem;

class SourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/sources_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ + "/spool");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& path, const std::string& data) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream f(path, std::ios::binary);
    f << data;
  }
  static int Sh(const std::string& cmd) { return system(cmd.c_str()); }

  Result<SourceTree> Read(const std::string& src, std::vector<std::string> ex = {},
                          bool defaults = true) {
    return ReadSource(src, ex, defaults, dir_ + "/spool");
  }
  static std::map<std::string, const TreeEntry*> ByPath(const SourceTree& t) {
    std::map<std::string, const TreeEntry*> m;
    for (const TreeEntry& e : t.entries) m[e.path] = &e;
    return m;
  }
  static std::string Content(const TreeEntry& e) {
    std::string out;
    Status s = ReadEntryContent(e, [&](std::string_view v) {
      out.append(v);
      return Status::OK();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  // A small tree: dirs, files, a hardlink pair, a symlink.
  void MakeTree(const std::string& root) {
    Write(root + "/etc/hostname", "node\n");
    Write(root + "/usr/bin/tool", std::string(100000, 'x'));
    ASSERT_EQ(link((root + "/usr/bin/tool").c_str(), (root + "/usr/bin/tool2").c_str()), 0);
    ASSERT_EQ(symlink("../usr/bin/tool", (root + "/etc/link").c_str()), 0);
    fs::create_directories(root + "/empty");
    chmod((root + "/etc/hostname").c_str(), 0640);
  }

  std::string dir_;
};

TEST_F(SourcesTest, DirectoryWalk) {
  std::string root = dir_ + "/tree";
  MakeTree(root);
  auto t = Read(root);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->kind, SourceKind::kDirectory);
  auto m = ByPath(*t);
  ASSERT_TRUE(m.count("etc/hostname"));
  EXPECT_EQ(m["etc/hostname"]->mode, uint32_t(S_IFREG | 0640));
  EXPECT_EQ(Content(*m["etc/hostname"]), "node\n");
  EXPECT_NE(m["etc/hostname"]->st_ino, 0u);
  ASSERT_TRUE(m.count("etc/link"));
  EXPECT_TRUE(S_ISLNK(m["etc/link"]->mode));
  EXPECT_EQ(m["etc/link"]->symlink_target, "../usr/bin/tool");
  ASSERT_TRUE(m.count("usr/bin/tool") && m.count("usr/bin/tool2"));
  EXPECT_NE(m["usr/bin/tool"]->hardlink_key, 0u);
  EXPECT_EQ(m["usr/bin/tool"]->hardlink_key, m["usr/bin/tool2"]->hardlink_key);
  EXPECT_EQ(m["etc/hostname"]->hardlink_key, 0u);
  EXPECT_TRUE(m.count("empty") && S_ISDIR(m["empty"]->mode));
}

TEST_F(SourcesTest, DirectoryDevices) {
  if (geteuid() != 0) GTEST_SKIP() << "mknod needs root";
  std::string root = dir_ + "/tree";
  fs::create_directories(root + "/dev");
  ASSERT_EQ(mknod((root + "/dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  ASSERT_EQ(mknod((root + "/dev/sda").c_str(), S_IFBLK | 0660, makedev(8, 0)), 0);
  ASSERT_EQ(mknod((root + "/fifo").c_str(), S_IFIFO | 0600, 0), 0);
  auto t = Read(root, {}, /*defaults=*/false);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  auto m = ByPath(*t);
  ASSERT_TRUE(m.count("dev/null") && m.count("dev/sda") && m.count("fifo"));
  EXPECT_TRUE(S_ISCHR(m["dev/null"]->mode));
  EXPECT_EQ(m["dev/null"]->rdev_major, 1u);
  EXPECT_EQ(m["dev/null"]->rdev_minor, 3u);
  EXPECT_TRUE(S_ISBLK(m["dev/sda"]->mode));
  EXPECT_EQ(m["dev/sda"]->rdev_major, 8u);
  EXPECT_TRUE(S_ISFIFO(m["fifo"]->mode));
  // Defaults drop dev contents but keep dev/null and dev itself.
  auto d = Read(root);
  ASSERT_TRUE(d.ok());
  auto dm = ByPath(*d);
  EXPECT_TRUE(dm.count("dev") && dm.count("dev/null"));
  EXPECT_FALSE(dm.count("dev/sda"));
}

TEST_F(SourcesTest, UnreadableFileNamed) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads everything";
  std::string root = dir_ + "/tree";
  Write(root + "/secret", "x");
  chmod((root + "/secret").c_str(), 0);
  auto t = Read(root);
  EXPECT_FALSE(t.ok());
  EXPECT_NE(t.status().ToString().find("secret"), std::string::npos);
}

TEST_F(SourcesTest, Tars) {
  std::string root = dir_ + "/tree";
  MakeTree(root);
  for (std::string flag : {"", "z", "--zstd ", "J", "j"}) {
    std::string tar = dir_ + "/t.tar";
    std::string opt = flag.empty() || flag.back() == ' ' ? flag + "-cf" : "-c" + flag + "f";
    ASSERT_EQ(Sh("tar -C " + root + " " + opt + " " + tar + " . 2>/dev/null"), 0) << flag;
    auto t = Read(tar);
    ASSERT_TRUE(t.ok()) << flag << ": " << t.status().ToString();
    EXPECT_EQ(t->kind, SourceKind::kTar);
    auto m = ByPath(*t);
    ASSERT_TRUE(m.count("etc/hostname")) << flag;
    EXPECT_EQ(Content(*m["etc/hostname"]), "node\n");
    EXPECT_EQ(m["etc/hostname"]->mode, uint32_t(S_IFREG | 0640));
    EXPECT_EQ(Content(*m["usr/bin/tool2"]), std::string(100000, 'x'));
    EXPECT_EQ(m["usr/bin/tool"]->hardlink_key, m["usr/bin/tool2"]->hardlink_key);
    EXPECT_NE(m["usr/bin/tool"]->hardlink_key, 0u);
    EXPECT_EQ(m["etc/link"]->symlink_target, "../usr/bin/tool");
    EXPECT_TRUE(m["usr/bin/tool"]->spool != nullptr);
    fs::remove(tar);
  }
}

TEST_F(SourcesTest, BadTars) {
  std::string src = dir_ + "/src";
  Write(src + "/a/file", "data");
  // ".." member.
  ASSERT_EQ(Sh("cd " + src + "/a && tar -P -cf " + dir_ + "/dotdot.tar ../a/file 2>/dev/null"), 0);
  auto t = Read(dir_ + "/dotdot.tar");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().ToString().find(".."), std::string::npos) << t.status().ToString();
  // Absolute member.
  ASSERT_EQ(Sh("tar -P -cf " + dir_ + "/abs.tar " + src + "/a/file 2>/dev/null"), 0);
  t = Read(dir_ + "/abs.tar");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().ToString().find("a/file"), std::string::npos) << t.status().ToString();
  // A later member through a symlink.
  std::string esc = dir_ + "/esc";
  fs::create_directories(esc);
  ASSERT_EQ(symlink("/etc", (esc + "/link").c_str()), 0);
  ASSERT_EQ(Sh("tar -C " + esc + " -cf " + dir_ + "/esc.tar link 2>/dev/null"), 0);
  fs::remove(esc + "/link");
  Write(esc + "/link/passwd", "evil");
  ASSERT_EQ(Sh("tar -C " + esc + " -rf " + dir_ + "/esc.tar link/passwd 2>/dev/null"), 0);
  t = Read(dir_ + "/esc.tar");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().ToString().find("link/passwd"), std::string::npos)
      << t.status().ToString();
  // Truncated and corrupt archives.
  ASSERT_EQ(Sh("head -c 300000 /dev/urandom > " + src + "/big"), 0);
  ASSERT_EQ(Sh("tar -C " + src + " -czf " + dir_ + "/big.tgz big"), 0);
  ASSERT_EQ(truncate((dir_ + "/big.tgz").c_str(), 500), 0);
  EXPECT_FALSE(Read(dir_ + "/big.tgz").ok());
  ASSERT_EQ(Sh("tar -C " + src + " -cf " + dir_ + "/big.tar big"), 0);
  ASSERT_EQ(truncate((dir_ + "/big.tar").c_str(), 100000), 0);
  EXPECT_FALSE(Read(dir_ + "/big.tar").ok());
  EXPECT_FALSE(Read(dir_ + "/does-not-exist").ok());
}

// Builds an OCI layout (blobs/sha256/<hex>) or docker-save layout in `out` from layer dirs.
class LayoutBuilder {
 public:
  LayoutBuilder(std::string work, std::string out) : work_(work), out_(out) {}
  std::string AddLayer(const std::string& layer_dir) {
    std::string tar = work_ + "/layer" + std::to_string(n_++) + ".tar";
    EXPECT_EQ(system(("tar -C " + layer_dir + " -cf " + tar + " .").c_str()), 0);
    return tar;
  }
  static std::string Sha(const std::string& path) {
    std::string cmd = "sha256sum " + path;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[65] = {};
    EXPECT_EQ(fread(buf, 1, 64, p), 64u);
    pclose(p);
    return buf;
  }
  static void WriteFile(const std::string& p, const std::string& s) {
    std::ofstream f(p, std::ios::binary);
    f << s;
  }
  std::string Blob(const std::string& file) {
    std::string h = Sha(file);
    fs::create_directories(out_ + "/blobs/sha256");
    fs::copy_file(file, out_ + "/blobs/sha256/" + h, fs::copy_options::overwrite_existing);
    return h;
  }
  void Oci(const std::vector<std::string>& layers) {
    fs::create_directories(out_);
    WriteFile(out_ + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
    WriteFile(work_ + "/config.json", "{\"architecture\":\"amd64\",\"os\":\"linux\"}");
    std::string cfg = Blob(work_ + "/config.json");
    std::string man =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
        "\"sha256:" +
        cfg + "\",\"size\":" + std::to_string(fs::file_size(work_ + "/config.json")) +
        "},\"layers\":[";
    for (size_t i = 0; i < layers.size(); ++i) {
      std::string h = Blob(layers[i]);
      man += std::string(i ? "," : "") +
             "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:" + h +
             "\",\"size\":" + std::to_string(fs::file_size(layers[i])) + "}";
    }
    man += "]}";
    WriteFile(work_ + "/manifest.json", man);
    std::string mh = Blob(work_ + "/manifest.json");
    WriteFile(out_ + "/index.json",
              "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
              "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" +
                  mh + "\",\"size\":" + std::to_string(fs::file_size(work_ + "/manifest.json")) +
                  "}]}");
  }
  void Docker(const std::vector<std::string>& layers) {
    fs::create_directories(out_);
    WriteFile(out_ + "/config.json", "{\"architecture\":\"amd64\",\"os\":\"linux\"}");
    std::string m = "[{\"Config\":\"config.json\",\"RepoTags\":[\"x:latest\"],\"Layers\":[";
    for (size_t i = 0; i < layers.size(); ++i) {
      std::string d = "l" + std::to_string(i);
      fs::create_directories(out_ + "/" + d);
      fs::copy_file(layers[i], out_ + "/" + d + "/layer.tar");
      m += std::string(i ? "," : "") + "\"" + d + "/layer.tar\"";
    }
    m += "]}]";
    WriteFile(out_ + "/manifest.json", m);
  }

 private:
  std::string work_, out_;
  int n_ = 0;
};

class LayersTest : public SourcesTest {
 protected:
  // Layer 0: base files; layer 1: deletes etc/b, makes opt opaque and adds opt/new.
  std::vector<std::string> MakeLayers(LayoutBuilder* b) {
    std::string l0 = dir_ + "/l0", l1 = dir_ + "/l1";
    Write(l0 + "/etc/a", "a0");
    Write(l0 + "/etc/b", "b0");
    Write(l0 + "/opt/old1", "o1");
    Write(l0 + "/opt/sub/old2", "o2");
    Write(l1 + "/etc/a", "a1");
    Write(l1 + "/etc/.wh.b", "");
    Write(l1 + "/opt/.wh..wh..opq", "");
    Write(l1 + "/opt/new", "n");
    return {b->AddLayer(l0), b->AddLayer(l1)};
  }
  void Check(const SourceTree& t) {
    auto m = ByPath(t);
    ASSERT_TRUE(m.count("etc/a"));
    EXPECT_EQ(Content(*m["etc/a"]), "a1");
    EXPECT_FALSE(m.count("etc/b"));
    EXPECT_FALSE(m.count("etc/.wh.b"));
    EXPECT_TRUE(m.count("opt"));
    EXPECT_TRUE(m.count("opt/new"));
    EXPECT_FALSE(m.count("opt/old1"));
    EXPECT_FALSE(m.count("opt/sub/old2"));
    EXPECT_FALSE(m.count("opt/.wh..wh..opq"));
  }
};

TEST_F(LayersTest, OciDirectoryAndTar) {
  LayoutBuilder b(dir_, dir_ + "/oci");
  b.Oci(MakeLayers(&b));
  auto t = Read(dir_ + "/oci");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->kind, SourceKind::kOciLayout);
  Check(*t);
  ASSERT_EQ(Sh("tar -C " + dir_ + "/oci -cf " + dir_ + "/oci.tar ."), 0);
  t = Read(dir_ + "/oci.tar");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->kind, SourceKind::kOciLayout);
  Check(*t);
}

TEST_F(LayersTest, DockerSave) {
  LayoutBuilder b(dir_, dir_ + "/docker");
  b.Docker(MakeLayers(&b));
  ASSERT_EQ(Sh("tar -C " + dir_ + "/docker -cf " + dir_ + "/docker.tar ."), 0);
  auto t = Read(dir_ + "/docker.tar");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->kind, SourceKind::kDockerSave);
  Check(*t);
}

TEST(ExcludesTest, GoMatchSemantics) {
  Excludes ex;
  ex.Add("/var/cache/*/");
  ex.Add("*.log");
  ex.AddFile("# comment\n\nhome/?ser\n");
  EXPECT_TRUE(ex.Excluded("var/cache/apt"));
  EXPECT_FALSE(ex.Excluded("var/cache"));
  EXPECT_TRUE(ex.Excluded("x.log"));
  EXPECT_FALSE(ex.Excluded("var/x.log"));  // '*' does not match '/'
  EXPECT_TRUE(ex.Excluded("home/user"));
  EXPECT_FALSE(ex.Excluded("home/users"));
  Excludes d;
  d.AddDefaults();
  EXPECT_TRUE(d.Excluded("proc/1"));
  EXPECT_TRUE(d.Excluded("tmp/x"));
  EXPECT_TRUE(d.Excluded("run/lock"));
  EXPECT_TRUE(d.Excluded("dev/sda"));
  EXPECT_FALSE(d.Excluded("dev/null"));
  EXPECT_FALSE(d.Excluded("dev/console"));
  EXPECT_FALSE(d.Excluded("proc"));
  EXPECT_FALSE(d.Excluded("etc/passwd"));
}

TEST_F(SourcesTest, ExcludesInWalk) {
  std::string root = dir_ + "/tree";
  Write(root + "/etc/warewulf/excludes", "/var/cache/\n");
  Write(root + "/var/cache/big", "x");
  Write(root + "/var/lib/keep", "x");
  Write(root + "/proc/cpuinfo", "x");
  Write(root + "/a.tmp", "x");
  auto t = Read(root, {"*.tmp"});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  auto m = ByPath(*t);
  EXPECT_FALSE(m.count("var/cache"));
  EXPECT_FALSE(m.count("var/cache/big"));
  EXPECT_TRUE(m.count("var/lib/keep"));
  EXPECT_TRUE(m.count("proc"));
  EXPECT_FALSE(m.count("proc/cpuinfo"));
  EXPECT_FALSE(m.count("a.tmp"));
  EXPECT_GT(t->excluded, 0u);
}

TEST_F(SourcesTest, KernelDetection) {
  std::string root = dir_ + "/tree";
  for (std::string v : {"6.1.0-1", "6.10.0-2", "6.9.0-3", "6.12.0-1+debug", "6.13.0-rescue"}) {
    Write(root + "/boot/vmlinuz-" + v, "kernel " + v);
  }
  auto t = Read(root);
  ASSERT_TRUE(t.ok());
  std::string version;
  auto k = FindKernel(t->entries, &version);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(version, "6.10.0-2");
  EXPECT_EQ((*k)->path, "boot/vmlinuz-6.10.0-2");

  std::string root2 = dir_ + "/tree2";
  Write(root2 + "/lib/modules/6.5.0/vmlinuz", "k");
  t = Read(root2);
  ASSERT_TRUE(t.ok());
  k = FindKernel(t->entries, &version);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(version, "6.5.0");

  std::string root3 = dir_ + "/tree3";
  Write(root3 + "/etc/x", "k");
  t = Read(root3);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(FindKernel(t->entries, &version).ok());
}

}  // namespace
}  // namespace sw
