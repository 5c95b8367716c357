// The packed token vector of the transformer Embedders and BEND's upsampling. Torch-free.
#include "bend/models/token_chunks.hpp"

#include <cstring>

#include "bend/core/error.hpp"

namespace bend {

void pack_chunked_tokens(const ChunkedTokens& t, std::vector<int32_t>& out) {
  out.clear();
  out.push_back(static_cast<int32_t>(t.chunks.size()));
  for (const std::vector<int32_t>& c : t.chunks) {
    out.push_back(static_cast<int32_t>(c.size()));
    out.insert(out.end(), c.begin(), c.end());
  }
  out.insert(out.end(), t.repeat.begin(), t.repeat.end());
}

ChunkedTokens unpack_chunked_tokens(const std::vector<int32_t>& p, const std::string& where) {
  ChunkedTokens t;
  size_t pos = 0;
  if (p.empty() || p[0] < 0 || size_t(p[0]) > p.size())
    fail("%s: packed tokens: bad chunk count", where.c_str());
  t.chunks.resize(size_t(p[pos++]));
  size_t n_ids = 0;
  for (std::vector<int32_t>& c : t.chunks) {
    const int32_t n = pos < p.size() ? p[pos++] : -1;
    if (n < 0 || size_t(n) > p.size() - pos) {
      fail("%s: packed tokens: bad chunk size %d at int %zu of %zu", where.c_str(), n, pos,
           p.size());
    }
    c.assign(p.begin() + long(pos), p.begin() + long(pos) + n);
    pos += size_t(n);
    n_ids += size_t(n);
  }
  if (p.size() - pos != n_ids) {
    fail("%s: packed tokens: %zu repeat counts for %zu token ids", where.c_str(), p.size() - pos,
         n_ids);
  }
  t.repeat.assign(p.begin() + long(pos), p.end());
  for (int32_t r : t.repeat) {
    if (r < 0) fail("%s: packed tokens: negative repeat count %d", where.c_str(), r);
  }
  return t;
}

int64_t output_rows(const ChunkedTokens& t) {
  int64_t n = 0;
  for (int32_t r : t.repeat) n += r;
  return n;
}

void repeat_counts_from_index(const std::vector<int32_t>& nt_index, int64_t n_tokens,
                              const std::string& where, std::vector<int32_t>& repeat) {
  repeat.assign(static_cast<size_t>(n_tokens), 0);
  int32_t prev = 0;
  for (size_t p = 0; p < nt_index.size(); p++) {
    const int32_t t = nt_index[p];
    if (t < 0)
      fail("%s: no token covers nucleotide %zu (of %zu)", where.c_str(), p, nt_index.size());
    if (t < prev || t >= n_tokens) {
      fail("%s: nucleotide %zu maps to token %d after token %d (of %lld)", where.c_str(), p, t,
           prev, (long long)n_tokens);
    }
    repeat[size_t(t)]++;
    prev = t;
  }
}

void upsample_rows(const float* rows, int64_t n_rows, int64_t dim,
                   const std::vector<int32_t>& repeat, std::vector<float>& out) {
  if (int64_t(repeat.size()) != n_rows)
    fail("upsample: %lld vectors but %zu repeat counts", (long long)n_rows, repeat.size());
  int64_t total = 0;
  for (int32_t r : repeat) {
    if (r < 0) fail("upsample: negative repeat count %d", r);
    total += r;
  }
  out.resize(static_cast<size_t>(total * dim));
  float* dst = out.data();
  for (int64_t i = 0; i < n_rows; i++) {
    for (int32_t r = 0; r < repeat[size_t(i)]; r++, dst += dim)
      std::memcpy(dst, rows + i * dim, sizeof(float) * size_t(dim));
  }
}

}  // namespace bend
