// tmpl/tmpl_parse_fuzz.cc: libFuzzer target for the template lexer/parser (and, for inputs that
// cannot recurse, the executor). Built only with -DSW_FUZZ=ON and clang (tests/tmpl.cmake); the
// same entry point is replayed over a seed corpus by tmpl_fuzz_replay in every build.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tmpl/template.h"

namespace {

const sw::tmpl::Value& Data() {
  static const sw::tmpl::Value* data = [] {
    auto v = sw::tmpl::ValueFromJson(
        R"({"a": "x", "n": 3, "f": 1.5, "l": [1, "two", null], "m": {"k": "v"},
            "s": {"__struct__": {"A": 1, "B": [true]}}, "nil": null})");
    return new sw::tmpl::Value(*v);
  }();
  return *data;
}

std::shared_ptr<const sw::tmpl::FuncMap> Funcs() {
  static auto fm = [] {
    auto m = std::make_shared<sw::tmpl::FuncMap>();
    sw::tmpl::AddWarewulfFuncs(m.get());
    return m;
  }();
  return fm;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto t = sw::tmpl::Template::Parse("fuzz", text, Funcs());
  if (!t.ok()) return 0;
  // Template calls can recurse exponentially; execute only inputs without them (and ranges are
  // over the fixed data, so execution time is bounded by the input length).
  if (text.find("template") != std::string_view::npos ||
      text.find("block") != std::string_view::npos || size > 4096) {
    return 0;
  }
  std::string out;
  (void)t->Execute(Data(), &out);
  return 0;
}
