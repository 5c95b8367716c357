// Window tiling and N counting (bend/genome/windows.hpp) against brute force on seeded random
// sequences; the streaming scan through FastaReader with blocks that split runs of N.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "../common/temp_dir.hpp"
#include "bend/genome/fasta.hpp"
#include "bend/genome/windows.hpp"

namespace {

// A sequence of ACGT with runs of N of random lengths (some at the ends).
std::string random_sequence(std::mt19937& rng, size_t n) {
  std::string s(n, 'A');
  for (char& c : s) c = "ACGT"[rng() % 4];
  for (int k = 0; k < 12; ++k) {
    size_t start = rng() % n, len = 1 + rng() % 40;
    for (size_t i = start; i < n && i < start + len; ++i) s[i] = 'N';
  }
  s[0] = 'N';
  s[n - 1] = 'N';
  return s;
}

int64_t brute_count(const std::string& s, int64_t offset, int64_t a, int64_t b) {
  int64_t n = 0;
  for (int64_t i = a; i < b; ++i) {
    if (i >= offset && i < offset + static_cast<int64_t>(s.size()) && s[i - offset] == 'N') ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("NRunIndex counts the N of every interval like brute force") {
  std::mt19937 rng(7);
  for (int rep = 0; rep < 5; ++rep) {
    std::string s = random_sequence(rng, 500);
    int64_t offset = 1000;
    bend::NRunIndex idx(s, offset);
    CHECK(idx.n_total() == brute_count(s, offset, offset, offset + 500));
    for (int64_t a = offset - 3; a <= offset + 503; a += 7) {
      for (int64_t b = a; b <= offset + 503; b += 5) CHECK(idx.count(a, b) == brute_count(s, offset, a, b));
    }
  }
  CHECK(bend::NRunIndex(std::string("ACGT"), 0).n_runs() == 0);
  CHECK(bend::NRunIndex(std::string("NNNNAANAN"), 0).n_runs() == 3);
}

TEST_CASE("the streaming scan through FastaReader equals the in-memory index, runs split by blocks") {
  bend_test::TempDir dir;
  std::mt19937 rng(11);
  std::string s = random_sequence(rng, 3000);
  std::string lower = s;
  s[5] = 'N';
  lower[5] = 'n';    // soft-masked N
  s[100] = 'N';
  lower[100] = 'R';  // IUPAC code: normalised to N
  std::string fa = ">chrA\n";
  for (size_t i = 0; i < lower.size(); i += 60) fa += lower.substr(i, 60) + "\n";
  bend::FastaReader reader(dir.file("g.fa", fa));
  bend::NRunIndex mem(s, 0);
  for (int64_t block : {1, 7, 64, 1000, 1 << 20}) {
    bend::NRunIndex streamed(reader, "chrA", 0, 3000, block);
    CHECK(streamed.n_runs() == mem.n_runs());
    for (int64_t a = 0; a < 3000; a += 97) CHECK(streamed.count(a, a + 250) == mem.count(a, a + 250));
  }
  bend::NRunIndex part(reader, "chrA", 1234, 2345, 100);  // a sub-span: positions outside count as 0
  CHECK(part.count(0, 3000) == brute_count(s, 0, 1234, 2345));
}

TEST_CASE("tiling: a window at every stride step before the end, the last ones clipped") {
  // bedtools makewindows -w 4 -s 2 on [0, 10): 0-4 2-6 4-8 6-10 8-10
  CHECK(bend::count_windows(0, 10, 2) == 5);
  CHECK(bend::window_end(0, 10, 4, 4, 2) == 10);
  CHECK(bend::window_start(0, 4, 2) == 8);
  // -w 4 -s 6 on [0, 10): 0-4 6-10; on [1, 9) with -s 3: 1-5 4-8 7-9
  CHECK(bend::count_windows(0, 10, 6) == 2);
  CHECK(bend::count_windows(1, 9, 3) == 3);
  CHECK(bend::window_end(1, 9, 2, 4, 3) == 9);
  CHECK(bend::count_windows(5, 5, 3) == 0);
  for (int64_t len = 1; len < 40; ++len) {
    for (int64_t stride = 1; stride < 12; ++stride) {
      int64_t n = 0;
      for (int64_t s = 0; s < len; s += stride) ++n;
      CHECK(bend::count_windows(0, len, stride) == n);
    }
  }
}
