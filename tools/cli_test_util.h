// tools/cli_test_util.h: running the real swctl binary from tests ($SW_BUILD_DIR/tools/swctl)
// and shell commands, capturing stdout+stderr and the exit code.
#pragma once

#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace sw::testing {

inline std::string Swctl() {
  const char* b = std::getenv("SW_BUILD_DIR");
  return std::string(b ? b : ".") + "/tools/swctl";
}

struct Proc {
  int rc;
  std::string out;
};

// Runs a shell command, capturing stdout+stderr.
inline Proc Sh(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128, out};
}

// A fixture with a fresh temp directory (dir_) and store path (store_) per test, skipped when the
// swctl binary is not built.
class SwctlFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(Swctl())) GTEST_SKIP() << "no swctl at " << Swctl();
    std::string tmpl = ::testing::TempDir() + "/swctl_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    store_ = dir_ + "/store";
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  // `swctl ARGS --store <store_>`.
  Proc Cmd(const std::string& args) { return Sh(Swctl() + " " + args + " --store " + store_); }
  void Write(const std::string& path, const std::string& data) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream f(path, std::ios::binary);
    f << data;
  }

  std::string dir_;
  std::string store_;
};

}  // namespace sw::testing
