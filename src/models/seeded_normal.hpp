// Seeded normal draws for untrained checkpoints: the same stream on every machine and compiler
// (splitmix64 + Box-Muller in double precision). Private to src/models.
#pragma once

#include <cmath>
#include <cstdint>

namespace bend {

// splitmix64 (Steele, Lea, Flood 2014): a tiny generator whose stream depends only on the seed.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1], 53 random bits.
  double uniform_open0() { return (static_cast<double>(next() >> 11) + 1.0) * 0x1.0p-53; }
};

// Standard normal draws by Box-Muller, using both values of each pair.
struct NormalGen {
  SplitMix64 rng;
  bool has_spare = false;
  double spare = 0;
  double next() {
    if (has_spare) {
      has_spare = false;
      return spare;
    }
    const double r = std::sqrt(-2.0 * std::log(rng.uniform_open0()));
    const double theta = 2.0 * 3.14159265358979323846 * rng.uniform_open0();
    spare = r * std::sin(theta);
    has_spare = true;
    return r * std::cos(theta);
  }
};

}  // namespace bend
