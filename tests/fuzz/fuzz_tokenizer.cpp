// Tokenizer files (tokenize/): the first byte picks the kind and file -- tokenizer.json (bpe),
// vocab.txt (dnabert, grover, nt-v2) or config.json (vocab_size check) -- the rest is its
// contents; a tokenizer that loads must encode a fixed DNA text with ids inside its vocabulary.
#include <sys/stat.h>

#include "bend/tokenize/tokenizer.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  struct Case {
    const char* kind;
    const char* file;
  };
  static const Case kCases[] = {{"bpe", "tokenizer.json"}, {"dnabert", "vocab.txt"},
                                {"grover", "vocab.txt"},   {"nt-v2", "vocab.txt"},
                                {"hyenadna", "config.json"}};
  const Case& c = kCases[data[0] % (sizeof kCases / sizeof kCases[0])];
  const std::string dir = bend_fuzz::scratch_dir() + "/tok";
  ::mkdir(dir.c_str(), 0700);
  for (const char* f : {"tokenizer.json", "vocab.txt", "config.json"}) ::unlink((dir + "/" + f).c_str());
  bend_fuzz::write_scratch(std::string("tok/") + c.file, data + 1, size - 1);
  bend_fuzz::expect_clean("tokenizer", [&] {
    std::unique_ptr<bend::Tokenizer> tok = bend::make_tokenizer(c.kind, dir);
    std::vector<int32_t> ids;
    std::vector<bend::TokenSpan> spans;
    tok->encode("ACGTNNacgtTTGACCAGTAGGCATN", ids, spans);
    for (int32_t id : ids) {
      if (id < 0 || id > tok->max_emitted_id()) std::abort();
    }
  });
  return 0;
}
