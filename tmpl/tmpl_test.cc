// tmpl/tmpl_test.cc: fast C++-only unit tests of the template engine (the Go-differential corpus
// lives in tests/testdata/tmpl and runs as tmpl_difftest).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tmpl/template.h"

namespace sw::tmpl {
namespace {

std::shared_ptr<FuncMap> AllFuncs() {
  auto fm = std::make_shared<FuncMap>();
  AddSprigFuncs(fm.get());
  AddWarewulfFuncs(fm.get());
  return fm;
}

// Renders text with JSON data; returns the output, or "PARSE: msg" / "EXEC: msg".
std::string R(std::string_view text, std::string_view json = "null") {
  auto data = ValueFromJson(json);
  EXPECT_TRUE(data.ok()) << data.status().ToString();
  auto t = Template::Parse("t", text, AllFuncs());
  if (!t.ok()) return "PARSE: " + std::string(t.status().message());
  auto r = t->Render(*data);
  if (!r.ok()) return "EXEC: " + std::string(r.status().message());
  return *r;
}

TEST(TmplValue, KindsAndTruth) {
  EXPECT_FALSE(Value().IsValid());
  EXPECT_FALSE(Value().Truth());
  EXPECT_FALSE(Value::Nil().Truth());
  EXPECT_TRUE(Value(1).Truth());
  EXPECT_FALSE(Value(0).Truth());
  EXPECT_FALSE(Value("").Truth());
  EXPECT_TRUE(Value("x").Truth());
  EXPECT_FALSE(Value(ValueList{}).Truth());
  EXPECT_TRUE(Value::Struct({}).Truth());  // structs are always true in Go
  EXPECT_FALSE(Value::Map(std::map<std::string, Value>{}).Truth());
  EXPECT_EQ(Value(1).GoTypeName(), "int");
  EXPECT_EQ(Value::Int64(1).GoTypeName(), "int64");
  EXPECT_EQ(Value(1.5).GoTypeName(), "float64");
  EXPECT_EQ(Value::StringList({"a"}).GoTypeName(), "[]string");
  EXPECT_EQ(Value::Struct({{"A", 1}, {"B", "x"}}).GoTypeName(),
            "struct { A interface {}; B interface {} }");
  EXPECT_EQ(Value(1).Boxed().GoTypeName(true), "interface {}");
}

TEST(TmplValue, MapIsSortedAndStructKeepsOrder) {
  Value m = Value::Map(std::vector<std::pair<std::string, Value>>{{"b", 2}, {"a", 1}, {"b", 3}});
  EXPECT_EQ(FormatValue(m), "map[a:1 b:3]");
  ASSERT_NE(m.Find("a"), nullptr);
  EXPECT_EQ(m.Find("zz"), nullptr);
  Value s = Value::Struct({{"Z", "last?"}, {"A", 1}});
  EXPECT_EQ(FormatValue(s), "{last? 1}");
  m.MapSet("c", Value("new"));
  EXPECT_EQ(FormatValue(m), "map[a:1 b:3 c:new]");
}

TEST(TmplValue, JsonRoundTrip) {
  auto v = ValueFromJson(R"({"b": [1, 2.5, "x", null, true], "a": {"k": "<&>"}})");
  ASSERT_TRUE(v.ok());
  auto j = ValueToJson(*v);
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(*j, R"({"a":{"k":"\u003c\u0026\u003e"},"b":[1,2.5,"x",null,true]})");
  EXPECT_FALSE(ValueFromJson("{").ok());
  EXPECT_FALSE(ValueFromJson("[1,]").ok());
  auto st = ValueFromJson(R"({"__struct__": {"Z": 1, "A": 2}})");
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->is_struct());
  EXPECT_EQ(FormatValue(*st), "{1 2}");
}

TEST(TmplParse, Basics) {
  EXPECT_EQ(R("a{{.x}}b", R"({"x": 5})"), "a5b");
  EXPECT_EQ(R("x {{- .x -}} y", R"({"x": 5})"), "x5y");
  EXPECT_EQ(R("{{/* c */}}ok"), "ok");
  EXPECT_EQ(R("{{\"a\\tb\"}}|{{`r\\n`}}|{{'a'}}|{{0x10}}|{{1e3}}"), "a\tb|r\\n|97|16|1000");
}

TEST(TmplParse, ErrorsHaveGoShape) {
  EXPECT_EQ(R("{{.x"), "PARSE: template: t:1: unclosed action");
  EXPECT_EQ(R("{{if 1}}"), "PARSE: template: t:1: unexpected EOF");
  EXPECT_EQ(R("\n{{nofunc}}"), "PARSE: template: t:2: function \"nofunc\" not defined");
  EXPECT_EQ(R("{{$x}}"), "PARSE: template: t:1: undefined variable \"$x\"");
  EXPECT_EQ(R("{{end}}"), "PARSE: template: t:1: unexpected {{end}}");
  EXPECT_EQ(R("{{break}}"), "PARSE: template: t:1: {{break}} outside {{range}}");
}

TEST(TmplExec, MissingKeyPrintsNoValue) {
  EXPECT_EQ(R("{{.missing}}|{{.a.b.c}}", "{}"), "<no value>|<no value>");
  EXPECT_EQ(R("{{print .missing}}", "{}"), "<nil>");
}

TEST(TmplExec, ErrorsCarryPosition) {
  EXPECT_EQ(R("ab\n  {{.x.y}}", R"({"x": "s"})"),
            "EXEC: template: t:2:6: executing \"t\" at <.x.y>: can't evaluate field y in type "
            "interface {}");
  EXPECT_EQ(R("{{index .l 5}}", R"({"l": [1]})"),
            "EXEC: template: t:1:2: executing \"t\" at <index .l 5>: error calling index: index "
            "out of range: 5");
}

TEST(TmplExec, ControlFlow) {
  const char* data = R"({"l": [3, 1, 2], "m": {"b": 2, "a": 1}})";
  EXPECT_EQ(R("{{range $i, $v := .l}}{{$i}}{{$v}} {{end}}", data), "03 11 22 ");
  EXPECT_EQ(R("{{range $k, $v := .m}}{{$k}}={{$v}};{{end}}", data), "a=1;b=2;");
  EXPECT_EQ(R("{{range .l}}{{if eq . 1}}{{break}}{{end}}{{.}}{{end}}", data), "3");
  EXPECT_EQ(R("{{range .l}}{{if eq . 1}}{{continue}}{{end}}{{.}}{{end}}", data), "32");
  EXPECT_EQ(R("{{range .nope}}x{{else}}empty{{end}}", data), "empty");
  EXPECT_EQ(R("{{if .nope}}a{{else if .l}}b{{else}}c{{end}}", data), "b");
  EXPECT_EQ(R("{{with .m}}{{.a}}{{end}}", data), "1");
  EXPECT_EQ(R("{{$x := 1}}{{range .l}}{{$x = .}}{{end}}{{$x}}", data), "2");
  EXPECT_EQ(R("{{define \"T\"}}<{{.}}>{{end}}{{template \"T\" .m.a}}{{block \"B\" 2}}{{.}}{{end}}",
              data),
            "<1>2");
}

TEST(TmplExec, ExecuteTemplateAndNames) {
  auto t = Template::Parse("main", "{{define \"x\"}}X{{.}}{{end}}M", nullptr);
  ASSERT_TRUE(t.ok());
  std::string out;
  ASSERT_TRUE(t->ExecuteTemplate("x", Value(7), &out).ok());
  EXPECT_EQ(out, "X7");
  EXPECT_EQ(t->TemplateNames(), (std::vector<std::string>{"main", "x"}));
  Status st = t->ExecuteTemplate("nope", Value(), &out);
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_EQ(st.message(), "template: no template \"nope\" associated with template \"main\"");
}

TEST(TmplExec, PartialOutputOnError) {
  auto t = Template::Parse("p", "abc{{.x.y}}def", nullptr);
  ASSERT_TRUE(t.ok());
  std::string out;
  Status st = t->Execute(*ValueFromJson(R"({"x": 1})"), &out);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(out, "abc");
}

TEST(TmplExec, CustomFunctionHook) {
  // The overlay builder registers context-bound functions (abort, file, Include) as closures.
  auto fm = std::make_shared<FuncMap>();
  bool aborted = false;
  fm->Add("abort", FuncSig{{}, false}, [&aborted](std::span<Value>) -> Result<Value> {
    aborted = true;
    return Value("");
  });
  fm->Add("Include", FuncSig{{ArgType::kString}, false},
          [](std::span<Value> a) -> Result<Value> {
            if (a[0].string_value() == "missing") return Status::NotFound("no such file");
            return Value("content of " + a[0].string_value());
          });
  auto t = Template::Parse("h", "{{Include \"/etc/x\"}}{{abort}}", fm);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t->Render(Value()), "content of /etc/x");
  EXPECT_TRUE(aborted);
  auto t2 = Template::Parse("h", "{{Include \"missing\"}}", fm);
  ASSERT_TRUE(t2.ok());
  auto r = t2->Render(Value());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "template: h:1:2: executing \"h\" at <Include \"missing\">: error calling Include: "
            "no such file");
  // Type checks use the declared signature, like Go.
  auto t3 = Template::Parse("h", "{{Include 3}}", fm);
  ASSERT_TRUE(t3.ok());
  EXPECT_EQ(t3->Render(Value()).status().message(),
            "template: h:1:10: executing \"h\" at <3>: expected string; found 3");
}

TEST(TmplFmt, Printf) {
  std::vector<Value> args = {Value(42), Value("s"), Value(2.5)};
  EXPECT_EQ(GoSprintf("%5d|%-3s|%.2f|%q", args), "   42|s  |2.50|%!q(MISSING)");
  EXPECT_EQ(GoSprintf("%d", std::vector<Value>{Value("x")}), "%!d(string=x)");
  EXPECT_EQ(GoSprintf("%v %v", std::vector<Value>{Value(1e21), Value(100000.0)}), "1e+21 100000");
  EXPECT_EQ(GoSprint(std::vector<Value>{Value(1), Value(2), Value("a"), Value(3)}), "1 2a3");
  EXPECT_EQ(GoSprintln(std::vector<Value>{Value(1), Value("a")}), "1 a\n");
  EXPECT_EQ(GoQuote("a\"b\n\x01é"), "\"a\\\"b\\n\\x01é\"");
}

TEST(TmplSprig, Subset) {
  EXPECT_EQ(R("{{.x | default \"d\"}}|{{join \",\" (list 1 2)}}|{{upper \"ab\"}}", "{}"),
            "d|1,2|AB");
  EXPECT_EQ(R("{{add 1 2}}|{{sub 5 3}}|{{mul 2 3}}|{{div 7 2}}|{{mod 7 3}}"), "3|2|6|3|1");
  EXPECT_EQ(R("{{b64enc \"hi\"}}|{{b64dec \"aGk=\"}}|{{sha256sum \"\" | trunc}}", "{}"),
            "PARSE: template: t:1: function \"trunc\" not defined");
  EXPECT_EQ(R("{{regexReplaceAll \"(\\\\d+)\" \"a1b22\" \"<$1>\"}}"), "a<1>b<22>");
  EXPECT_EQ(R("{{indent 2 \"a\\nb\"}}"), "  a\n  b");
  EXPECT_EQ(R("{{until (add 1 2)}}"),
            "EXEC: template: t:1:15: executing \"t\" at <2>: wrong type for value; expected int; "
            "got int64");
  EXPECT_EQ(R("{{date \"2006-01-02\" 0}}"), "1970-01-01");
}

TEST(TmplWarewulf, Helpers) {
  EXPECT_EQ(R("{{basename \"/a/b.ww\"}} {{inc 1}} {{dec 1}}"), "b.ww 2 0");
  EXPECT_EQ(R("{{SystemdEscapePath \"/dev/sda1\"}} {{SystemdEscape \"a b\"}}"),
            "dev-sda1 a\\x20b");
  EXPECT_EQ(R("{{UniqueField \":\" 0 \"a:1\\nb:2\\na:3\"}}"), "a:1\nb:2");
}

TEST(TmplExec, ConcurrentExecutionOfOneTemplate) {
  auto t = Template::Parse("c", "{{range .l}}{{.}}{{end}}-{{.n}}", AllFuncs());
  ASSERT_TRUE(t.ok());
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      Value data = Value::Map(std::vector<std::pair<std::string, Value>>{
          {"l", Value(ValueList{Value(1), Value(2)})}, {"n", Value(i)}});
      for (int k = 0; k < 2000; ++k) {
        auto r = t->Render(data);
        if (!r.ok() || *r != "12-" + std::to_string(i)) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(TmplExec, TopLevelFields) {
  auto fields = [](std::string_view text) -> std::string {
    auto t = Template::Parse("f", text, AllFuncs());
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    auto f = t->TopLevelFields();
    if (!f) return "ESCAPES";
    std::string s;
    for (const auto& x : *f) s += x + ",";
    return s;
  };
  // The hosts overlay reads only server fields and AllNodes: one render serves every node.
  EXPECT_EQ(fields("{{$.Ipaddr}} {{.BuildHost}}{{range $n := $.AllNodes}}{{$n.Id}}{{range "
                   ".NetDevs}}{{.Ipaddr}}{{end}}{{end}}"),
            "AllNodes,BuildHost,Ipaddr,");
  EXPECT_EQ(fields("{{with .Kernel}}{{.Args}}{{$.Id}}{{end}}{{if .A}}{{.B}}{{else}}{{.C}}{{end}}"),
            "A,B,C,Id,Kernel,");
  EXPECT_EQ(fields("{{define \"T\"}}{{.X}}{{$}}{{end}}{{template \"T\" .Node}}"), "Node,");
  EXPECT_EQ(fields("{{range .L}}{{template \"T\" .}}{{end}}{{define \"T\"}}{{.}}{{end}}"), "L,");
  EXPECT_EQ(fields("{{.}}"), "ESCAPES");
  EXPECT_EQ(fields("{{toJson $}}"), "ESCAPES");
  EXPECT_EQ(fields("{{template \"T\" .}}{{define \"T\"}}x{{end}}"), "ESCAPES");
  EXPECT_EQ(fields("{{$x := .}}"), "ESCAPES");
  EXPECT_EQ(fields("{{(.A).B}} {{len .C}}"), "A,C,");
}

TEST(TmplExec, MethodsOnValues) {
  Value data = Value::Struct(
      {{"OnBoot", Value("").WithMethods(WWBoolMethods())},
       {"Write", Value("no").WithMethods(WWBoolMethods())},
       {"Node", Value::Map(std::map<std::string, Value>{{"x", 1}})}});
  auto t = Template::Parse(
      "m", "{{.OnBoot.BoolDefaultTrue}} {{.Write.Bool}} [{{.OnBoot}}] {{printf \"%T\" .Write}}",
      AllFuncs());
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t->Render(data), "true false [] wwtype.WWbool");
  // A method with an argument, and Stringer printing, on a custom type.
  auto set = std::make_shared<MethodSet>();
  set->type_name = "main.Temp";
  set->methods.push_back({"Plus", FuncSig{{ArgType::kInt}, false},
                          [](const Value& r, std::span<Value> a) -> Result<Value> {
                            return Value(r.int_value() + a[0].int_value());
                          }});
  set->methods.push_back({"String", FuncSig{{}, false},
                          [](const Value& r, std::span<Value>) -> Result<Value> {
                            return Value(std::to_string(r.int_value()) + "C");
                          }});
  Value temp = Value(20).WithMethods(set);
  auto t2 = Template::Parse("m", "{{.T}} {{.T.Plus 5}} {{3 | .T.Plus}} {{.T.Plus}}", nullptr);
  ASSERT_TRUE(t2.ok());
  auto r = t2->Render(Value::Map(std::map<std::string, Value>{{"T", temp}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "template: m:1:41: executing \"m\" at <.T.Plus>: wrong number of args for Plus: "
            "want 1 got 0");
  std::string out;
  (void)t2->Execute(Value::Map(std::map<std::string, Value>{{"T", temp}}), &out);
  EXPECT_EQ(out, "20C 25 23 ");
}

TEST(TmplExec, RecursionDepthIsBounded) {
  std::string r = R("{{define \"R\"}}{{template \"R\" .}}{{end}}{{template \"R\" .}}");
  EXPECT_NE(r.find("exceeded maximum template depth"), std::string::npos) << r;
}

}  // namespace
}  // namespace sw::tmpl
