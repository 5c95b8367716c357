// tool_variant_eval N_BOOT SEED < "score\tlabel" lines: prints "auroc ci_low ci_high n_boot"
// (%.17g) of bend's variant_eval, for the sklearn / numpy comparison in test_variant_eval.py.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "bend/variants/variant_eval.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: tool_variant_eval N_BOOT SEED < scores\n");
    return 2;
  }
  std::vector<double> score;
  std::vector<uint8_t> label;
  double s = 0;
  int l = 0;
  while (std::cin >> s >> l) {
    score.push_back(s);
    label.push_back(static_cast<uint8_t>(l));
  }
  bend::AurocRow r = bend::auroc_with_ci(score, label, std::atoll(argv[1]), std::strtoull(argv[2], nullptr, 10));
  std::printf("%.17g %.17g %.17g %lld\n", r.auroc, r.ci_low, r.ci_high, (long long)r.n_boot);
  return 0;
}
