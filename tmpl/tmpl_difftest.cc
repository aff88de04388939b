// tmpl/tmpl_difftest.cc: differential test of tmpl/ against Go's text/template.
//
// Usage: tmpl_difftest --oracle PATH --corpus DIR [--random N] [--seed S] [--verbose]
//
// Loads every *.txt case file under DIR (format below), adds N seeded random templates, renders
// each case with the Go oracle (tests/gotmpl) and with tmpl/, and prints every mismatch. A case
// matches when both outputs are byte-identical, or both fail with the same error text (or, for
// cases marked "--- loose", both fail). Exit status 1 on any mismatch.
//
// Case file format:
//   ### case-name
//   --- data            (optional; JSON, default null)
//   {"a": 1}
//   --- exec NAME       (optional; run this defined template instead of the main one)
//   --- loose           (optional; only "both fail" is required for errors)
//   --- tmpl            (required, last; everything up to the next "### " line, minus the final
//   text {{.a}}          newline)
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "tmpl/template.h"

namespace sw::tmpl {
namespace {

struct Case {
  std::string name;
  std::string data = "null";
  std::string tmpl;
  std::string exec;
  bool loose = false;
  std::string file;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<Case> ParseCaseFile(const std::string& path, const std::string& text) {
  std::vector<Case> out;
  std::istringstream in(text);
  std::string line;
  Case* cur = nullptr;
  enum { kNone, kData, kTmpl } section = kNone;
  auto finish = [&]() {
    if (cur != nullptr && section == kTmpl && !cur->tmpl.empty() && cur->tmpl.back() == '\n') {
      cur->tmpl.pop_back();
    }
  };
  while (std::getline(in, line)) {
    bool eol = !in.eof();
    if (line.rfind("### ", 0) == 0) {
      finish();
      out.emplace_back();
      cur = &out.back();
      cur->name = line.substr(4);
      cur->file = path;
      cur->data.clear();
      section = kNone;
      continue;
    }
    if (cur == nullptr) continue;
    if (section != kTmpl && line.rfind("--- ", 0) == 0) {
      std::string what = line.substr(4);
      if (what == "data") {
        section = kData;
      } else if (what == "tmpl") {
        section = kTmpl;
      } else if (what == "loose") {
        cur->loose = true;
      } else if (what.rfind("exec ", 0) == 0) {
        cur->exec = what.substr(5);
      }
      continue;
    }
    if (section == kData) {
      cur->data += line + "\n";
    } else if (section == kTmpl) {
      cur->tmpl += line;
      if (eol) cur->tmpl += "\n";
    }
  }
  finish();
  for (auto& c : out) {
    if (c.data.find_first_not_of(" \n\t") == std::string::npos) c.data = "null";
  }
  return out;
}

// ---- Random template generator ------------------------------------------------------------

const char* kRandomData = R"({
  "a": "alpha", "b": {"c": "deep", "d": 2, "e": [1, 2, 3]}, "n": 42, "neg": -7, "z": 0,
  "f": 2.5, "g": 1e21, "t": true, "u": false, "s": "", "nil": null,
  "list": ["x", "y", "z"], "nums": [3, 1, 2], "empty": [], "mixed": [1, "two", 3.5, true, null],
  "m": {"k1": "v1", "k2": "v2", "k3": 3}, "em": {},
  "st": {"__struct__": {"Name": "node1", "Id": 7, "Tags": ["a", "b"]}},
  "nodes": [{"Id": "n1", "Ip": "10.0.0.1", "On": true}, {"Id": "n2", "Ip": "10.0.0.2", "On": false}]
})";

class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}

  std::string Template() {
    int mode = Pick(10);
    if (mode < 3) return PrintfCase();
    if (mode < 5) return SprigCase();
    std::string s;
    int n = 1 + Pick(4);
    for (int i = 0; i < n; ++i) s += Element(0);
    return s;
  }

 private:
  // A printf with random flags, width, precision and verbs over a pool of typed values.
  std::string PrintfCase() {
    static const char* const kVerbs[] = {"v", "v", "d", "s", "q", "x", "X", "o", "b", "c",
                                        "U", "e", "E", "f", "F", "g", "G", "t", "T", "%", "z"};
    static const char* const kFlags[] = {"", "", "", "-", "+", "#", "0", " ", "-0", "+0", "# "};
    static const char* const kArgs[] = {
        ".n", ".neg", ".z", ".f", ".g", ".a", ".s", ".t", ".u", ".nil", ".missing", ".list",
        ".nums", ".m", ".st", ".mixed", ".empty", "1", "-1", "0", "255", "65", "1.5", "-0.25",
        "1e-7", "123456789.0", "\"x\"", "\"héllo\"", "\"a\\tb\"", "true", "'a'", "0x1F",
        "1e100", "100000.0", "0.000123", "3.0"};
    std::string fmt;
    int nverbs = 1 + Pick(3);
    for (int i = 0; i < nverbs; ++i) {
      if (Pick(3) == 0) fmt += "[";
      fmt += "%";
      fmt += One(kFlags);
      if (Pick(12) == 0) fmt += "[" + std::to_string(Pick(4)) + "]";
      if (Pick(10) == 0) {
        fmt += "*";
      } else if (Pick(3) == 0) {
        fmt += std::to_string(Pick(12));
      }
      if (Pick(4) == 0) fmt += Pick(8) == 0 ? ".*" : "." + std::to_string(Pick(6));
      if (Pick(16) == 0) fmt += "[" + std::to_string(Pick(4)) + "]";
      fmt += One(kVerbs);
      if (Pick(3) == 0) fmt += "]";
    }
    int nargs = nverbs + (Pick(6) == 0 ? 1 : 0) - (Pick(8) == 0 ? 1 : 0);
    std::string s = "{{printf \"" + fmt + "\"";
    for (int i = 0; i < nargs; ++i) s += std::string(" ") + One(kArgs);
    return s + "}}";
  }

  // Sprig calls with (mostly) the right arity over the shared data.
  std::string SprigCase() {
    static const char* const kCalls[] = {
        "default \"d\" X", "empty X", "coalesce X Y", "ternary X Y .t", "join \",\" X",
        "splitList \",\" S", "replace \"a\" \"b\" S", "trim S", "trimAll \"a\" S",
        "trimPrefix \"al\" S", "trimSuffix \"ha\" S", "upper S", "lower S", "title S",
        "contains \"a\" S", "hasPrefix \"a\" S", "hasSuffix \"a\" S", "quote X Y",
        "squote X", "indent 2 S", "nindent 2 S", "list X Y", "dict \"k\" X", "toString X",
        "add X Y", "sub X Y", "mul X Y", "div X 3", "mod X 3", "atoi S", "int X", "b64enc S",
        "sha256sum S", "toJson X", "first X", "last X", "until 3", "keys .m | sortAlpha",
        "hasKey .m S", "get .m S", "cat X Y", "repeat 2 S", "nospace S", "add1 X",
        "regexMatch \"^a\" S", "regexReplaceAll \"a\" S \"<$0>\"", "split \"l\" S",
        "basename S", "inc X", "dec X", "SystemdEscape S", "SystemdEscapePath S",
        "UniqueField \",\" 0 S"};
    static const char* const kX[] = {".n", ".a", ".s", ".z", ".f", ".nil", ".missing", ".list",
                                    ".nums", ".m", ".st", ".t", "1", "\"7\"", "2.5", "nil",
                                    ".mixed", ".empty", "(list 1 2)"};
    static const char* const kS[] = {".a", ".s", "\"alpha,beta\"", "\"a b\\nc\"",
                                    "\"/dev/sda\"", ".st.Name", ".m.k1", ".n", ".missing",
                                    "\"k1\"", "\" pad \""};
    std::string call = One(kCalls);
    std::string out;
    for (size_t i = 0; i < call.size(); ++i) {
      if (call[i] == 'X' || call[i] == 'Y') {
        out += One(kX);
      } else if (call[i] == 'S') {
        out += One(kS);
      } else {
        out += call[i];
      }
    }
    std::string s = "{{" + out + "}}";
    if (Pick(4) == 0) s = "{{" + out + " | print}}";
    if (Pick(5) == 0) s = "{{range " + out + "}}[{{.}}]{{end}}";
    return s;
  }

  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  template <size_t N>
  const char* One(const char* const (&arr)[N]) {
    return arr[Pick(N)];
  }

  std::string Text() {
    static const char* const kTexts[] = {"x", " ", "\n", "a b", "-", "  \n  ", "[", "]", "é"};
    return One(kTexts);
  }
  std::string Open() {
    static const char* const kOpen[] = {"{{", "{{", "{{", "{{- "};
    return One(kOpen);
  }
  std::string Close() {
    static const char* const kClose[] = {"}}", "}}", "}}", " -}}"};
    return One(kClose);
  }
  std::string Field() {
    static const char* const kFields[] = {
        ".a", ".b", ".b.c", ".b.d", ".b.e", ".n", ".neg", ".z", ".f", ".g", ".t", ".u", ".s",
        ".nil", ".missing", ".list", ".nums", ".empty", ".mixed", ".m", ".m.k1", ".em", ".st",
        ".st.Name", ".st.Id", ".st.Tags", ".st.Nope", ".nodes", ".a.x", ".nil.x", ".",
        "$", "$.a", ".m.nope", ".b.e"};
    return One(kFields);
  }
  std::string Const() {
    static const char* const kConsts[] = {"1", "0", "-3", "2.5", "1e3", "0x1F", "'a'", "\"str\"",
                                         "\"\"", "`raw`", "true", "false", "nil", "\"a\\tb\"",
                                         "1.0", "07", "0b101", "1_000"};
    return One(kConsts);
  }
  std::string Operand(int depth) {
    int k = Pick(depth > 1 ? 2 : 4);
    if (k == 0) return Field();
    if (k == 1) return Const();
    if (k == 2) return "(" + Pipeline(depth + 1) + ")";
    return "$v";
  }
  std::string Call(int depth) {
    static const char* const kFuncs[] = {
        "len", "index", "slice", "print", "println", "printf", "eq", "ne", "lt", "le", "gt",
        "ge", "and", "or", "not", "html", "js", "urlquery", "upper", "lower", "default",
        "empty", "join", "quote", "toString", "add", "list", "first", "trim", "title"};
    std::string f = One(kFuncs);
    if (f == "printf") return "printf " + Format() + Args(depth, Pick(3));
    return f + Args(depth, Pick(4));
  }
  std::string Format() {
    static const char* const kFmts[] = {"\"%v\"", "\"%d\"", "\"%s\"", "\"%q\"", "\"%x\"",
                                       "\"%5.2f\"", "\"%-4v|\"", "\"%t\"", "\"%v %v\"",
                                       "\"%+v\"", "\"%05d\"", "\"%e\"", "\"%g\"", "\"%c\"",
                                       "\"%U\"", "\"%%\"", "\"%o\"", "\"%X\"", "\"%#x\"", "\"%8s\""};
    return One(kFmts);
  }
  std::string Args(int depth, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += " " + Operand(depth + 1);
    return s;
  }
  std::string Command(int depth) {
    int k = Pick(3);
    if (k == 0) return Operand(depth);
    return Call(depth);
  }
  std::string Pipeline(int depth) {
    std::string s = Command(depth);
    if (depth < 2 && Pick(3) == 0) {
      static const char* const kStages[] = {"print", "len", "printf \"%v\"", "html", "not",
                                           "upper", "quote", "eq 1", "index .m", "default \"d\""};
      s += " | " + std::string(One(kStages));
    }
    return s;
  }
  std::string Element(int depth) {
    if (depth <= 1 && Pick(6) == 0) return Structured(depth);
    int k = Pick(depth > 1 ? 3 : 9);
    switch (k) {
      case 0:
      case 1:
        return Text();
      case 2:
        return Open() + Pipeline(0) + Close();
      case 3:
        return Open() + "if " + Pipeline(0) + Close() + Body(depth) +
               (Pick(2) ? "{{else}}" + Body(depth) : "") + "{{end}}";
      case 4: {
        std::string decl = Pick(2) ? "$i, $v := " : "$v := ";
        static const char* const kRanges[] = {".list", ".nums", ".m", ".empty", ".nil",
                                             ".missing", ".nodes", ".n", ".a", ".mixed",
                                             ".st", ".b.e"};
        return Open() + "range " + decl + One(kRanges) + Close() + "{{$v}}" + Body(depth) +
               (Pick(3) == 0 ? "{{break}}" : "") + (Pick(3) == 0 ? "{{else}}none" : "") +
               "{{end}}";
      }
      case 5:
        return Open() + "with " + Pipeline(0) + Close() + "{{.}}" + Body(depth) + "{{end}}";
      case 6:
        return "{{$v := " + Pipeline(0) + "}}{{$v}}";
      case 7:
        return "{{/* c */}}";
      default:
        return "{{" + Pipeline(0) + "}}";
    }
  }
  // Mostly valid, Warewulf-like constructs over the shared data.
  std::string Structured(int depth) {
    switch (Pick(8)) {
      case 0:
        return "{{define \"T" + std::to_string(depth) + "\"}}" + Body(depth + 1) +
               "{{end}}{{template \"T" + std::to_string(depth) + "\" " + Field() + "}}";
      case 1:
        return "{{block \"B" + std::to_string(depth) + "\" " + Field() + "}}" + Body(depth + 1) +
               "{{end}}";
      case 2:
        return "{{if " + Pipeline(1) + "}}a{{else if " + Pipeline(1) + "}}b{{else}}c{{end}}";
      case 3:
        return "{{with " + Field() + "}}" + Body(depth + 1) + "{{else}}" + Body(depth + 1) +
               "{{end}}";
      case 4:
        return "{{range $n := .nodes}}{{$n.Id}} {{$n.Ip}}{{if $n.On}} on{{end}} {{$.a}}\n{{end}}";
      case 5:
        return "{{$x := " + Operand(1) + "}}{{range .nums}}{{$x = .}}{{end}}{{$x}}";
      case 6:
        return "{{range $k, $v := " + Field() + "}}{{$k}}={{$v}}{{if eq (print $k) \"1\"}}" +
               "{{continue}}{{end}};{{end}}";
      default:
        return "{{printf \"%s-%v\" (print " + Field() + ") " + Field() + "}}";
    }
  }

  std::string Body(int depth) {
    std::string s;
    int n = Pick(3);
    for (int i = 0; i < n; ++i) s += Element(depth + 1);
    return s;
  }

  std::mt19937 rng_;
};

// Deterministic stand-ins for the overlay builder's context-bound functions (the oracle has the
// same ones in tests/gotmpl/funcs.go).
void AddBuilderStubs(FuncMap* fm) {
  using A = ArgType;
  using Args = std::span<Value>;
  auto s1 = [](const char* prefix, const char* suffix) {
    return [prefix, suffix](Args a) -> Result<Value> {
      return Value(std::string(prefix) + a[0].string_value() + suffix);
    };
  };
  fm->Add("Include", {{A::kString}, false}, s1("<include ", ">"));
  fm->Add("IncludeFrom", {{A::kString, A::kString}, false}, [](Args a) -> Result<Value> {
    return Value("<include " + a[0].string_value() + ":" + a[1].string_value() + ">");
  });
  fm->Add("IncludeBlock", {{A::kString, A::kString}, false}, [](Args a) -> Result<Value> {
    return Value("<block " + a[0].string_value() + " until " + a[1].string_value() + ">");
  });
  fm->Add("file", {{A::kString}, false}, s1("{{ /* file \"", "\" */ }}"));
  fm->Add("softlink", {{A::kString}, false}, s1("{{ /* softlink \"", "\" */ }}"));
  fm->Add("ImportLink", {{A::kString}, false}, s1("{{ /* softlink \"", "\" */ }}"));
  fm->Add("readlink", {{A::kString}, false}, s1("", ""));
  auto empty = [](Args) -> Result<Value> { return Value(""); };
  fm->Add("abort", {{}, false}, empty);
  fm->Add("nobackup", {{}, false}, empty);
  fm->Add("IgnitionJson", {{}, false}, [](Args) -> Result<Value> { return Value("{}"); });
}

// {"__wwbool__": "x"} (as decoded by ValueFromJson) -> a wwtype.WWbool value, recursively.
Value ConvertWWBool(const Value& v) {
  if (v.kind() == Value::Kind::kList) {
    ValueList l;
    for (const Value& e : v.list()) l.push_back(ConvertWWBool(e));
    return Value(std::move(l));
  }
  if (v.kind() != Value::Kind::kMap) return v;
  const auto& e = v.map_data().entries;
  if (!v.is_struct() && e.size() == 1 && e[0].first == "__wwbool__" &&
      e[0].second.kind() == Value::Kind::kString) {
    return Value(e[0].second.string_value()).WithMethods(WWBoolMethods());
  }
  std::vector<std::pair<std::string, Value>> out;
  for (const auto& [k, x] : e) out.emplace_back(k, ConvertWWBool(x));
  return v.is_struct() ? Value::Struct(std::move(out)) : Value::Map(std::move(out));
}

// ---- Running ------------------------------------------------------------------------------

std::string JsonStr(const std::string& s) { return *ValueToJson(Value(s)); }

bool RunOracle(const std::string& oracle, const std::string& in_path,
               const std::string& out_path) {
  std::string cmd = "'" + oracle + "' < '" + in_path + "' > '" + out_path + "'";
  int rc = system(cmd.c_str());
  return rc == 0;
}

std::string Escape(const std::string& s) {
  std::string out = GoQuote(s);
  return out;
}

int Main(int argc, char** argv) {
  std::string oracle, corpus;
  int random_n = 0;
  uint32_t seed = 1;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--oracle") {
      oracle = next();
    } else if (a == "--corpus") {
      corpus = next();
    } else if (a == "--random") {
      random_n = std::stoi(next());
    } else if (a == "--seed") {
      seed = static_cast<uint32_t>(std::stoul(next()));
    } else if (a == "--verbose") {
      verbose = true;
    } else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  if (oracle.empty() || corpus.empty()) {
    std::cerr << "usage: tmpl_difftest --oracle PATH --corpus DIR [--random N] [--seed S]\n";
    return 2;
  }
  // Does the oracle have Sprig?
  bool has_sprig = false;
  {
    std::string cmd = "'" + oracle + "' -has-sprig";
    FILE* p = popen(cmd.c_str(), "r");
    char buf[16] = {0};
    if (p != nullptr) {
      if (fgets(buf, sizeof(buf), p) == nullptr) buf[0] = 0;
      pclose(p);
    }
    has_sprig = std::string(buf).rfind("true", 0) == 0;
  }
  std::vector<Case> cases;
  std::vector<std::string> files;
  if (DIR* d = opendir(corpus.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 4 && n.substr(n.size() - 4) == ".txt") files.push_back(n);
    }
    closedir(d);
  }
  std::sort(files.begin(), files.end());
  int skipped_files = 0;
  for (const auto& f : files) {
    if (!has_sprig && f.rfind("sprig", 0) == 0) {
      ++skipped_files;
      continue;
    }
    auto cs = ParseCaseFile(f, ReadFile(corpus + "/" + f));
    cases.insert(cases.end(), cs.begin(), cs.end());
  }
  size_t hand = cases.size();
  Gen gen(seed);
  for (int i = 0; i < random_n; ++i) {
    Case c;
    c.name = "random-" + std::to_string(seed) + "-" + std::to_string(i);
    c.data = kRandomData;
    c.tmpl = gen.Template();
    c.loose = true;
    c.file = "(generated)";
    cases.push_back(std::move(c));
  }
  char dir_tmpl[] = "/tmp/tmpl_difftest.XXXXXX";
  if (mkdtemp(dir_tmpl) == nullptr) {
    perror("mkdtemp");
    return 2;
  }
  std::string dir = dir_tmpl;
  std::string in_path = dir + "/cases.jsonl", out_path = dir + "/results.jsonl";
  struct Cleanup {  // the temp dir goes away on every exit path
    std::string dir, in, out;
    ~Cleanup() {
      unlink(in.c_str());
      unlink(out.c_str());
      rmdir(dir.c_str());
    }
  } cleanup{dir, in_path, out_path};
  {
    std::ofstream in(in_path, std::ios::binary);
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      auto data = ValueFromJson(c.data);
      if (!data.ok()) {
        std::cerr << c.file << ": " << c.name << ": bad data: " << data.status().ToString()
                  << "\n";
        return 2;
      }
      std::string one_line = c.data;  // raw newlines may only be JSON whitespace
      std::replace(one_line.begin(), one_line.end(), '\n', ' ');
      in << "{\"name\":" << JsonStr(std::to_string(i)) << ",\"tmpl\":" << JsonStr(c.tmpl)
         << ",\"exec\":" << JsonStr(c.exec) << ",\"data\":" << one_line << "}\n";
    }
  }
  if (!RunOracle(oracle, in_path, out_path)) {
    std::cerr << "oracle failed\n";
    return 2;
  }
  std::vector<std::pair<bool, std::string>> go(cases.size());  // (is_error, text)
  {
    std::ifstream out(out_path, std::ios::binary);
    std::string line;
    size_t n = 0;
    while (std::getline(out, line)) {
      auto v = ValueFromJson(line);
      if (!v.ok()) {
        std::cerr << "bad oracle line: " << line << "\n";
        return 2;
      }
      size_t idx = std::stoul(v->Find("name")->string_value());
      if (const Value* e = v->Find("err")) {
        go[idx] = {true, e->string_value()};
      } else {
        go[idx] = {false, v->Find("out")->string_value()};
      }
      ++n;
    }
    if (n != cases.size()) {
      std::cerr << "oracle answered " << n << " of " << cases.size() << " cases\n";
      return 2;
    }
  }

  auto fm = std::make_shared<FuncMap>();
  AddWarewulfFuncs(fm.get());
  AddBuilderStubs(fm.get());
  if (has_sprig) AddSprigFuncs(fm.get());  // same function set as the oracle
  int mismatches = 0, exact = 0, both_err = 0, loose_err = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    auto parsed = ValueFromJson(c.data);
    Result<Value> data = ConvertWWBool(*parsed);
    bool err = false;
    std::string text;
    auto t = Template::Parse("tpl", c.tmpl, fm);
    if (!t.ok()) {
      err = true;
      text = std::string(t.status().message());
    } else {
      std::string out;
      Status st = c.exec.empty() ? t->Execute(*data, &out) : t->ExecuteTemplate(c.exec, *data,
                                                                              &out);
      if (!st.ok()) {
        err = true;
        text = std::string(st.message());
      } else {
        text = std::move(out);
      }
    }
    bool ok;
    if (go[i].first != err) {
      ok = false;
    } else if (!err) {
      ok = go[i].second == text;
      exact += ok;
    } else if (go[i].second == text) {
      ok = true;
      ++both_err;
    } else {
      ok = c.loose;
      loose_err += ok;
    }
    if (!ok || (verbose && err && go[i].second != text)) {
      if (!ok) ++mismatches;
      std::cout << (ok ? "ERRTEXT " : "MISMATCH ") << c.file << ": " << c.name << "\n"
                << "  template: " << Escape(c.tmpl) << "\n"
                << "  go:  " << (go[i].first ? "ERROR " : "") << Escape(go[i].second) << "\n"
                << "  c++: " << (err ? "ERROR " : "") << Escape(text) << "\n";
    }
  }
  std::cout << "tmpl differential test: " << cases.size() << " cases (" << hand
            << " hand-written, " << random_n << " random, seed " << seed << "; sprig "
            << (has_sprig ? "on" : "off, " + std::to_string(skipped_files) + " files skipped")
            << "): " << exact << " identical outputs, " << both_err << " identical errors, "
            << loose_err << " both-error (loose), " << mismatches << " mismatches\n";
  std::cout << (cases.size() - mismatches) << " passed, " << mismatches << " failed\n";
  return mismatches == 0 ? 0 : 1;
}

}  // namespace
}  // namespace sw::tmpl

int main(int argc, char** argv) { return sw::tmpl::Main(argc, argv); }
