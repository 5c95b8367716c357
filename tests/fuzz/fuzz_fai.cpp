// FASTA index (genome/fasta.cpp read_fai): a fixed small FASTA with fuzzed .fai bytes; the
// reader refuses the index or fetches every sequence it lists within the file.
#include "bend/genome/fasta.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char kFasta[] = ">chr1\nACGTACGTAC\nGTAC\n>chr2 desc\nNNNNacgtAC\n>c3\nA\n";
  const std::string fa = bend_fuzz::write_scratch("g.fa", reinterpret_cast<const uint8_t*>(kFasta),
                                                  sizeof kFasta - 1);
  bend_fuzz::write_scratch("g.fa.fai", data, size);
  bend_fuzz::expect_clean("fai", [&] {
    bend::FastaReader r(fa);
    for (const auto& c : r.chromosomes()) {
      if (c.second > 64) continue;
      std::string seq;
      bend_fuzz::expect_clean("fetch", [&] { r.fetch(c.first, 0, c.second, false, seq); });
    }
  });
  return 0;
}
