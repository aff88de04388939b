// tools/cli.h: swctl's command groups. Each takes the arguments after its group name
// (e.g. for `swctl image import SRC NAME --store DIR`, args = {"import","SRC","NAME","--store",
// "DIR"}), parses its own flags with Boost.Program_options, prints errors to stderr and returns
// the process exit code: 0 success, 1 operation failed, 2 usage error.
#pragma once

#include <string>
#include <vector>

namespace sw {

int RunStoreCommand(const std::vector<std::string>& args);
int RunImageCommand(const std::vector<std::string>& args);
int RunKernelCommand(const std::vector<std::string>& args);
int RunOverlayCommand(const std::vector<std::string>& args);
int RunNodeCommand(const std::vector<std::string>& args);
int RunProfileCommand(const std::vector<std::string>& args);
int RunPowerCommand(const std::vector<std::string>& args);
int RunConfigureCommand(const std::vector<std::string>& args);

}  // namespace sw
