// tools/cli_util.h: helpers shared by swctl's command groups: option parsing with
// Boost.Program_options (which throws; caught here and turned into exit code 2), opening the
// store, human-readable sizes, and a progress line that redraws on a TTY.
#pragma once

#include <boost/program_options.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chunkstore/store.h"

namespace sw {

namespace po = boost::program_options;

// Parses args into vm. Returns -1 to continue, or an exit code (0 after --help, 2 on errors).
int ParseArgs(const std::vector<std::string>& args, const std::string& usage,
              po::options_description& opts, const po::positional_options_description& pos,
              po::variables_map* vm);

// Parses `swctl <group> <command> NAME [options]`: --store and --help, the options already in
// *opts, and NAME (positional, required; vm["name"]). Returns -1 to continue, else the exit code.
int ParseNameArgs(const std::vector<std::string>& args, const std::string& usage,
                  po::options_description* opts, po::variables_map* vm);

// Adds --store and --help to an options description.
void AddCommonOptions(po::options_description* opts);

// Opens the store named by --store / $STORMWULF_STORE / the default; prints errors.
std::unique_ptr<Store> OpenStoreOrDie(const po::variables_map& vm, bool create);

// SIGHUP to every stormwulfd process this user may signal (they reload nodes.conf); returns how
// many got it.
int ReloadStormwulfd();

std::string HumanBytes(uint64_t n);
std::string HumanTime(int64_t unix_seconds);

// Progress reporting: redraws one line on a TTY at most 10 times a second, else prints a plain
// line every 5 seconds. Quiet prints nothing.
class ProgressLine {
 public:
  explicit ProgressLine(bool quiet);
  void Update(const std::string& text, bool force = false);
  void Done();

 private:
  bool quiet_;
  bool tty_;
  uint64_t last_ns_ = 0;
  bool drawn_ = false;
};

}  // namespace sw
