// tmpl/tmpl_test.cc: fast C++-only unit tests of the template engine.
#include <gtest/gtest.h>

#include "tmpl/template.h"

namespace sw::tmpl {
namespace {

std::string R(std::string_view text, std::string_view json = "null") {
  auto data = ValueFromJson(json);
  EXPECT_TRUE(data.ok()) << data.status().ToString();
  auto fm = std::make_shared<FuncMap>();
  AddSprigFuncs(fm.get());
  AddWarewulfFuncs(fm.get());
  auto t = Template::Parse("t", text, fm);
  if (!t.ok()) return "PARSE: " + std::string(t.status().message());
  auto r = t->Render(*data);
  if (!r.ok()) return "EXEC: " + std::string(r.status().message());
  return *r;
}

TEST(Tmpl, Basics) {
  EXPECT_EQ(R("a{{.x}}b", R"({"x": 5})"), "a5b");
}

}  // namespace
}  // namespace sw::tmpl
