// Float conversions done on the bit patterns with integer arithmetic, so the result never
// depends on the FPU rounding mode or on flush-to-zero settings.
#include "bend/core/half.hpp"

#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "bend/core/error.hpp"

namespace bend {
namespace {

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// v >> shift rounded to nearest, ties to even (shift in 1..31).
inline uint32_t shift_rne(uint32_t v, int shift) {
  uint32_t q = v >> shift;
  uint32_t rem = v & ((1u << shift) - 1);
  uint32_t halfway = 1u << (shift - 1);
  if (rem > halfway || (rem == halfway && (q & 1))) ++q;
  return q;
}

inline void store_le16(char* dst, uint16_t v) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  std::memcpy(dst, &v, 2);
#else
  dst[0] = static_cast<char>(v & 0xFF);
  dst[1] = static_cast<char>(v >> 8);
#endif
}

inline uint16_t load_le16(const char* src) {
  return static_cast<uint16_t>(static_cast<unsigned char>(src[0]) |
                               (static_cast<unsigned char>(src[1]) << 8));
}

constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

#if defined(__x86_64__)
// F16C converts 8 floats per instruction with IEEE round-to-nearest-even, subnormals included.
// Its NaN results keep the payload, torch's do not, so blocks holding a NaN go the scalar way.
// Returns how many leading elements it converted (a multiple of 8).
__attribute__((target("avx,f16c"))) size_t encode_half_f16c(const float* src, size_t n, char* dst) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_loadu_ps(src + i);
    if (_mm256_movemask_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q)) != 0) {
      for (size_t k = i; k < i + 8; ++k) store_le16(dst + 2 * k, float_to_half(src[k]));
      continue;
    }
    __m128i h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i), h);
  }
  return i;
}

bool have_f16c() {
  __builtin_cpu_init();
#if defined(__clang__)  // clang 14 has no "f16c" for __builtin_cpu_supports (the fuzz build)
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
#else
  return __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
#endif
}

// bfloat16, 8 floats at a time, same arithmetic as float_to_bfloat16. Returns the count done.
__attribute__((target("sse4.1"))) size_t encode_bfloat16_sse41(const float* src, size_t n,
                                                               char* dst) {
  const __m128i one = _mm_set1_epi32(1), bias = _mm_set1_epi32(0x7FFF);
  const __m128i abs_mask = _mm_set1_epi32(0x7FFFFFFF), inf = _mm_set1_epi32(0x7F800000);
  const __m128i qnan = _mm_set1_epi32(0x7FC0);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i r[2];
    for (int h = 0; h < 2; ++h) {
      __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 4 * h));
      __m128i lsb = _mm_and_si128(_mm_srli_epi32(x, 16), one);
      __m128i rounded = _mm_srli_epi32(_mm_add_epi32(_mm_add_epi32(x, bias), lsb), 16);
      __m128i is_nan = _mm_cmpgt_epi32(_mm_and_si128(x, abs_mask), inf);
      r[h] = _mm_blendv_epi8(rounded, qnan, is_nan);
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i), _mm_packus_epi32(r[0], r[1]));
  }
  return i;
}

bool have_sse41() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.1");
}
#endif

void encode_half(const float* src, size_t n, char* dst) {
  size_t i = 0;
#if defined(__x86_64__)
  static const bool kF16c = have_f16c();
  if (kF16c) i = encode_half_f16c(src, n, dst);
#endif
  for (; i < n; ++i) store_le16(dst + 2 * i, float_to_half(src[i]));
}

void encode_bfloat16(const float* src, size_t n, char* dst) {
  size_t i = 0;
#if defined(__x86_64__)
  static const bool kSse41 = have_sse41();
  if (kSse41) i = encode_bfloat16_sse41(src, n, dst);
#endif
  for (; i < n; ++i) store_le16(dst + 2 * i, float_to_bfloat16(src[i]));
}

}  // namespace

DType parse_dtype(const std::string& s) {
  if (s == "float32") return DType::kFloat32;
  if (s == "float16") return DType::kFloat16;
  if (s == "bfloat16") return DType::kBFloat16;
  fail("unknown dtype '%s' (valid: float32, float16, bfloat16)", s.c_str());
}

const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::kFloat32:
      return "float32";
    case DType::kFloat16:
      return "float16";
    case DType::kBFloat16:
      return "bfloat16";
  }
  return "float32";
}

size_t dtype_size(DType dt) {
  return dt == DType::kFloat32 ? 4 : 2;
}

uint16_t float_to_half(float f) {
  uint32_t x = float_bits(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  uint32_t ax = x & 0x7FFFFFFFu;
  if (ax > 0x7F800000u) return sign | 0x7E00;  // nan
  int e = static_cast<int>(ax >> 23);          // biased float exponent
  uint32_t mant = ax & 0x7FFFFFu;
  if (e > 142) return sign | 0x7C00;  // >= 2^16 (or inf): overflow
  if (e >= 113) {
    // Normal half: exponent e - 112, 10 mantissa bits; a carry out of the mantissa bumps the
    // exponent, and 65520 and above carry into inf (0x7C00), as IEEE requires.
    uint32_t h = (static_cast<uint32_t>(e - 112) << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  // Subnormal half: value / 2^-24 = (mant | 2^23) * 2^(e - 126), rounded.
  if (e < 102) return sign;  // below 2^-25: rounds to zero (2^-25 itself ties to even zero)
  uint32_t m = mant | 0x800000u;
  return static_cast<uint16_t>(sign | shift_rne(m, 126 - e));
}

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t e = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  if (e == 0x1F) {
    if (mant == 0) return bits_float(sign | 0x7F800000u);
    return bits_float(sign | 0x7FC00000u | (mant << 13));  // quiet nan, payload kept
  }
  if (e != 0) return bits_float(sign | ((e + 112) << 23) | (mant << 13));
  if (mant == 0) return bits_float(sign);
  // Subnormal half: normalise the mantissa into a normal float.
  int shift = 0;
  while ((mant & 0x400) == 0) {
    mant <<= 1;
    ++shift;
  }
  return bits_float(sign | (static_cast<uint32_t>(113 - shift) << 23) | ((mant & 0x3FF) << 13));
}

uint16_t float_to_bfloat16(float f) {
  uint32_t x = float_bits(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0;
  uint32_t rounding_bias = 0x7FFF + ((x >> 16) & 1);
  return static_cast<uint16_t>((x + rounding_bias) >> 16);
}

float bfloat16_to_float(uint16_t b) {
  return bits_float(static_cast<uint32_t>(b) << 16);
}

void encode_floats(const float* src, size_t n, DType dt, char* dst) {
  if (n == 0) return;  // src/dst may be null then
  if (dt == DType::kFloat32) {
    if (kLittleEndian) {
      std::memcpy(dst, src, n * sizeof(float));
      return;
    }
    for (size_t i = 0; i < n; ++i) {
      uint32_t u = float_bits(src[i]);
      for (int k = 0; k < 4; ++k) dst[4 * i + k] = static_cast<char>((u >> (8 * k)) & 0xFF);
    }
    return;
  }
  if (dt == DType::kFloat16) {
    encode_half(src, n, dst);
  } else {
    encode_bfloat16(src, n, dst);
  }
}

void decode_floats(const char* src, size_t n, DType dt, float* dst) {
  if (n == 0) return;
  if (dt == DType::kFloat32) {
    if (kLittleEndian) {
      std::memcpy(dst, src, n * sizeof(float));
      return;
    }
    for (size_t i = 0; i < n; ++i) {
      uint32_t u = 0;
      for (int k = 0; k < 4; ++k)
        u |= static_cast<uint32_t>(static_cast<unsigned char>(src[4 * i + k])) << (8 * k);
      dst[i] = bits_float(u);
    }
    return;
  }
  if (dt == DType::kFloat16) {
    for (size_t i = 0; i < n; ++i) dst[i] = half_to_float(load_le16(src + 2 * i));
  } else {
    for (size_t i = 0; i < n; ++i) dst[i] = bfloat16_to_float(load_le16(src + 2 * i));
  }
}

}  // namespace bend
