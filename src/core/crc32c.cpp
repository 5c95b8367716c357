// CRC32C: one SSE4.2 loop (8 bytes per crc32 instruction) and a portable slicing-by-8 loop
// over tables derived at startup from the polynomial. The choice is made once per process.
#include "bend/core/crc32c.hpp"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define BEND_CRC32C_X86 1
#endif

namespace bend {
namespace {

constexpr uint32_t kPolyReflected = 0x82F63B78u;
constexpr uint32_t kMaskDelta = 0xa282ead8u;

// tables[k][b]: CRC of byte b followed by k zero bytes (slicing-by-8).
struct Crc32cTables {
  uint32_t t[8][256];
  Crc32cTables() {
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t c = b;
      for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? (c >> 1) ^ kPolyReflected : c >> 1;
      t[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; ++b) {
      for (int k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
    }
  }
};

const Crc32cTables& tables() {
  static const Crc32cTables kTables;
  return kTables;
}

inline uint64_t load_le64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

#ifdef BEND_CRC32C_X86
// Long buffers run as three interleaved streams of kStreamBytes each: the crc32 instruction
// has a latency of 3 cycles and a throughput of 1 per cycle, so one dependent chain uses a
// third of it. The streams are joined with the CRC register algebra: the register after A + B,
// started from r, is zeros(|B|)(r) ^ (the register after B started from 0), where zeros(n) is
// the linear map "feed n zero bytes", tabulated byte by byte below.
constexpr size_t kStreamBytes = 8192;

// t[k][b] = zeros(kStreamBytes) applied to the register b << 8k.
struct ZerosTables {
  uint32_t t[4][256];
};

__attribute__((target("sse4.2"))) ZerosTables make_zeros_tables() {
  uint32_t basis[32];  // zeros(kStreamBytes) of each single-bit register
  for (int bit = 0; bit < 32; ++bit) {
    uint64_t l = uint32_t{1} << bit;
    for (size_t i = 0; i < kStreamBytes / 8; ++i) l = _mm_crc32_u64(l, 0);
    basis[bit] = static_cast<uint32_t>(l);
  }
  ZerosTables z;
  for (int k = 0; k < 4; ++k) {
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t v = 0;
      for (int j = 0; j < 8; ++j) {
        if (b & (1u << j)) v ^= basis[8 * k + j];
      }
      z.t[k][b] = v;
    }
  }
  return z;
}

inline uint32_t shift_stream(const ZerosTables& z, uint32_t r) {
  return z.t[0][r & 0xFF] ^ z.t[1][(r >> 8) & 0xFF] ^ z.t[2][(r >> 16) & 0xFF] ^ z.t[3][r >> 24];
}

__attribute__((target("sse4.2"))) uint32_t extend_sse42(uint32_t crc, const unsigned char* p,
                                                        size_t n) {
  uint64_t l = crc ^ 0xFFFFFFFFu;
  // Align to 8 bytes so the 64-bit loads in the main loop never straddle cache lines.
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    l = _mm_crc32_u8(static_cast<uint32_t>(l), *p++);
    --n;
  }
  if (n >= 3 * kStreamBytes) {
    static const ZerosTables kZeros = make_zeros_tables();
    do {
      uint64_t a = l, b = 0, c = 0;
      const unsigned char* end = p + kStreamBytes;
      do {
        a = _mm_crc32_u64(a, load_le64(p));
        b = _mm_crc32_u64(b, load_le64(p + kStreamBytes));
        c = _mm_crc32_u64(c, load_le64(p + 2 * kStreamBytes));
        p += 8;
      } while (p < end);
      l = shift_stream(kZeros, static_cast<uint32_t>(a)) ^ static_cast<uint32_t>(b);
      l = shift_stream(kZeros, static_cast<uint32_t>(l)) ^ static_cast<uint32_t>(c);
      p += 2 * kStreamBytes;
      n -= 3 * kStreamBytes;
    } while (n >= 3 * kStreamBytes);
  }
  while (n >= 32) {
    l = _mm_crc32_u64(l, load_le64(p));
    l = _mm_crc32_u64(l, load_le64(p + 8));
    l = _mm_crc32_u64(l, load_le64(p + 16));
    l = _mm_crc32_u64(l, load_le64(p + 24));
    p += 32;
    n -= 32;
  }
  while (n >= 8) {
    l = _mm_crc32_u64(l, load_le64(p));
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    l = _mm_crc32_u8(static_cast<uint32_t>(l), *p++);
    --n;
  }
  return static_cast<uint32_t>(l) ^ 0xFFFFFFFFu;
}

bool detect_sse42() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
#endif

}  // namespace

uint32_t crc32c_extend_portable(uint32_t crc, const void* data, size_t n_bytes) {
  const Crc32cTables& tb = tables();
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uint32_t l = crc ^ 0xFFFFFFFFu;
  while (n_bytes >= 8) {
    uint64_t v = load_le64(p) ^ l;
    l = tb.t[7][v & 0xFF] ^ tb.t[6][(v >> 8) & 0xFF] ^ tb.t[5][(v >> 16) & 0xFF] ^
        tb.t[4][(v >> 24) & 0xFF] ^ tb.t[3][(v >> 32) & 0xFF] ^ tb.t[2][(v >> 40) & 0xFF] ^
        tb.t[1][(v >> 48) & 0xFF] ^ tb.t[0][v >> 56];
    p += 8;
    n_bytes -= 8;
  }
  while (n_bytes > 0) {
    l = (l >> 8) ^ tb.t[0][(l ^ *p++) & 0xFF];
    --n_bytes;
  }
  return l ^ 0xFFFFFFFFu;
}

bool crc32c_hw_available() {
#ifdef BEND_CRC32C_X86
  static const bool kHave = detect_sse42();
  return kHave;
#else
  return false;
#endif
}

uint32_t crc32c_extend_hw(uint32_t crc, const void* data, size_t n_bytes) {
#ifdef BEND_CRC32C_X86
  return extend_sse42(crc, static_cast<const unsigned char*>(data), n_bytes);
#else
  return crc32c_extend_portable(crc, data, n_bytes);
#endif
}

uint32_t crc32c_extend(uint32_t crc, const void* data, size_t n_bytes) {
  if (crc32c_hw_available()) return crc32c_extend_hw(crc, data, n_bytes);
  return crc32c_extend_portable(crc, data, n_bytes);
}

uint32_t crc32c_mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

uint32_t crc32c_unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace bend
