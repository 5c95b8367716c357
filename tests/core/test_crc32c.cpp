// CRC32C: the CRC catalogue's check value, agreement of both implementations with a
// bit-by-bit reference written from the Castagnoli polynomial, chaining, masking, speed.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bend/core/crc32c.hpp"

namespace {

// The definition: reflected CRC-32 with polynomial 0x82F63B78, init and final xor 0xFFFFFFFF.
uint32_t crc32c_bitwise(const unsigned char* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

std::vector<unsigned char> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> v(n);
  for (auto& b : v) b = static_cast<unsigned char>(rng());
  return v;
}

}  // namespace

TEST_CASE("crc32c of '123456789' is the catalogue check value 0xE3069283") {
  const char* s = "123456789";
  CHECK(bend::crc32c(s, 9) == 0xE3069283u);
  CHECK(bend::crc32c_extend_portable(0, s, 9) == 0xE3069283u);
  if (bend::crc32c_hw_available()) CHECK(bend::crc32c_extend_hw(0, s, 9) == 0xE3069283u);
}

TEST_CASE("crc32c of nothing is 0 and of 32 zero bytes is 0x8A9136AA (RFC 3720 B.4)") {
  CHECK(bend::crc32c("", 0) == 0u);
  std::vector<unsigned char> zeros(32, 0), ones(32, 0xFF);
  CHECK(bend::crc32c(zeros.data(), 32) == 0x8A9136AAu);
  CHECK(bend::crc32c(ones.data(), 32) == 0x62A8AB43u);
}

TEST_CASE(
    "hardware and portable crc32c agree with the bitwise definition at every length and "
    "alignment") {
  std::vector<unsigned char> buf = random_bytes(5000, 7);
  for (size_t off = 0; off < 9; ++off) {
    for (size_t n : {0, 1, 2, 3, 7, 8, 9, 15, 16, 31, 32, 33, 63, 64, 65, 100, 1000, 4096, 4990}) {
      uint32_t want = crc32c_bitwise(buf.data() + off, n);
      CHECK(bend::crc32c_extend_portable(0, buf.data() + off, n) == want);
      CHECK(bend::crc32c(buf.data() + off, n) == want);
      if (bend::crc32c_hw_available())
        CHECK(bend::crc32c_extend_hw(0, buf.data() + off, n) == want);
    }
  }
}

TEST_CASE("crc32c_extend continues a crc: crc(a+b) == extend(crc(a), b)") {
  std::vector<unsigned char> buf = random_bytes(100000, 11);
  uint32_t whole = crc32c_bitwise(buf.data(), buf.size());
  for (size_t split : {0, 1, 13, 4096, 54321, 99999, 100000}) {
    uint32_t a = bend::crc32c(buf.data(), split);
    CHECK(bend::crc32c_extend(a, buf.data() + split, buf.size() - split) == whole);
    CHECK(bend::crc32c_extend_portable(a, buf.data() + split, buf.size() - split) == whole);
  }
}

TEST_CASE("long buffers (three interleaved streams of 8 KiB in hardware) match the definition") {
  std::vector<unsigned char> buf = random_bytes(3 * 3 * 8192 + 100, 13);
  for (size_t off : {0, 3}) {
    for (size_t n : {3 * 8192 - 1, 3 * 8192, 3 * 8192 + 1, 3 * 8192 + 8, 6 * 8192 + 77, 9 * 8192 + 50}) {
      const uint32_t want = crc32c_bitwise(buf.data() + off, n);
      CHECK(bend::crc32c(buf.data() + off, n) == want);
      CHECK(bend::crc32c_extend_portable(0, buf.data() + off, n) == want);
      if (bend::crc32c_hw_available()) CHECK(bend::crc32c_extend_hw(0, buf.data() + off, n) == want);
    }
  }
}

TEST_CASE("crc32c_mask matches TFRecord's formula and crc32c_unmask inverts it") {
  std::mt19937 rng(3);
  for (int i = 0; i < 10000; ++i) {
    uint32_t c = static_cast<uint32_t>(rng());
    uint32_t want = ((c >> 15) | (c << 17)) + 0xa282ead8u;
    CHECK(bend::crc32c_mask(c) == want);
    CHECK(bend::crc32c_unmask(want) == c);
  }
}
