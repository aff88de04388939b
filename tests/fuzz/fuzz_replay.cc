// Runs a libFuzzer entry point over every file of the corpus directories given as arguments, so
// the fuzz targets' code and corpora stay exercised in builds without libFuzzer.
#include <dirent.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  int files = 0;
  for (int i = 1; i < argc; ++i) {
    DIR* d = opendir(argv[i]);
    if (d == nullptr) {
      fprintf(stderr, "cannot open %s\n", argv[i]);
      return 1;
    }
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream in(std::string(argv[i]) + "/" + e->d_name, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string s = ss.str();
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
      // Every prefix too: partial heads are the parser's common case.
      for (size_t k = 0; k < s.size(); k += 7) {
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), k);
      }
      ++files;
    }
    closedir(d);
  }
  printf("replayed %d corpus files\n", files);
  return files > 0 ? 0 : 1;
}
