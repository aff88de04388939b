// tmpl/funcs_sprig.cc: Sprig and Warewulf helper functions (placeholder, filled below).
#include "tmpl/template.h"

namespace sw::tmpl {
void AddSprigFuncs(FuncMap*) {}
void AddWarewulfFuncs(FuncMap*) {}
}  // namespace sw::tmpl
