// placeholder: implemented by its owner.
#include <cstdio>
#include "tools/cli.h"
namespace sw {
int RunImageCommand(const std::vector<std::string>&) { std::fputs("swctl image: not built yet\n", stderr); return 2; }
}  // namespace sw
