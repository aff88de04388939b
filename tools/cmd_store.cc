// placeholder: implemented by its owner.
#include <cstdio>
#include "tools/cli.h"
namespace sw {
int RunStoreCommand(const std::vector<std::string>&) { std::fputs("swctl store: not built yet\n", stderr); return 2; }
}  // namespace sw
