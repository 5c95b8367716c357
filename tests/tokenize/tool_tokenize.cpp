// Test helper: tokenizes each line of a file with make_tokenizer(kind, dir) and prints one JSON
// object per line, for tests/tokenize/test_hf_tokenizers.py to compare with references.
//
//   tool_tokenize KIND DIR SEQS [--chunks MAX_BP MAX_TOKENS] [--map] [--bench REPEATS]
//
// Default output: {"ids": [...], "spans": [[start, len], ...]} (Tokenizer::encode). --chunks:
// {"chunks": [{"ids": [...], "spans": [...]}, ...]} (encode_chunks). --map adds "map": the
// nucleotide_token_index of the output's spans (chunks concatenated). --bench prints one line
// "bench <bp> <tokens> <wall seconds> <CPU seconds>" for REPEATS passes of encode over all
// lines instead.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "bend/core/error.hpp"
#include "bend/tokenize/chunks.hpp"
#include "bend/tokenize/tokenizer.hpp"

namespace {

void print_ids_spans(const std::vector<int32_t>& ids, const std::vector<bend::TokenSpan>& spans,
                     std::string& out) {
  out += "\"ids\": [";
  for (size_t i = 0; i < ids.size(); i++) out += (i ? "," : "") + std::to_string(ids[i]);
  out += "], \"spans\": [";
  for (size_t i = 0; i < spans.size(); i++) {
    out += (i ? ",[" : "[") + std::to_string(spans[i].start) + "," +
           std::to_string(spans[i].len_bp) + "]";
  }
  out += "]";
}

// Times `repeats` passes of encode over `seqs`; prints "bench bp tokens wall_s cpu_s".
void run_bench(const bend::Tokenizer& tok, const std::vector<std::string>& seqs, int repeats) {
  std::vector<int32_t> ids;
  std::vector<bend::TokenSpan> spans;
  int64_t n_bp = 0, n_tok = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const std::clock_t c0 = std::clock();
  for (int r = 0; r < repeats; r++) {
    for (const std::string& s : seqs) {
      tok.encode(s, ids, spans);
      n_bp += static_cast<int64_t>(s.size());
      n_tok += static_cast<int64_t>(ids.size());
    }
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu_sec = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
  std::printf("bench %lld %lld %.6f %.6f\n", static_cast<long long>(n_bp),
              static_cast<long long>(n_tok), sec, cpu_sec);
}

// Prints one sequence's JSON line: encode, or encode_chunks when `rule` is set; "map" on demand.
void print_one(const bend::Tokenizer& tok, const std::string& s, const bend::ChunkRule* rule,
               bool map) {
  std::vector<int32_t> ids, index;
  std::vector<bend::TokenSpan> spans;
  std::string out = "{";
  if (rule != nullptr) {
    std::vector<bend::TokenChunk> chunks;
    bend::encode_chunks(tok, s, *rule, chunks);
    out += "\"chunks\": [";
    for (size_t c = 0; c < chunks.size(); c++) {
      out += c ? ", {" : "{";
      print_ids_spans(chunks[c].ids, chunks[c].spans, out);
      out += "}";
      spans.insert(spans.end(), chunks[c].spans.begin(), chunks[c].spans.end());
    }
    out += "]";
  } else {
    tok.encode(s, ids, spans);
    print_ids_spans(ids, spans, out);
  }
  if (map) {
    bend::nucleotide_token_index(spans, static_cast<int64_t>(s.size()), index);
    out += ", \"map\": [";
    for (size_t i = 0; i < index.size(); i++) out += (i ? "," : "") + std::to_string(index[i]);
    out += "]";
  }
  out += "}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
}

int run(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: tool_tokenize KIND DIR SEQS [--chunks MAX_BP MAX_TOKENS] "
                 "[--map] [--bench REPEATS]\n");
    return 2;
  }
  bool chunked = false, map = false;
  int bench = 0;
  bend::ChunkRule rule;
  for (int a = 4; a < argc; a++) {
    const std::string arg = argv[a];
    if (arg == "--chunks" && a + 2 < argc) {
      chunked = true;
      rule.max_bp = std::atoll(argv[++a]);
      rule.max_tokens = std::atoll(argv[++a]);
    } else if (arg == "--map") {
      map = true;
    } else if (arg == "--bench" && a + 1 < argc) {
      bench = std::atoi(argv[++a]);
    } else {
      bend::fail("unknown argument '%s'", arg.c_str());
    }
  }
  std::unique_ptr<bend::Tokenizer> tok = bend::make_tokenizer(argv[1], argv[2]);
  std::ifstream in(argv[3]);
  if (!in) bend::fail("%s: cannot open", argv[3]);
  std::vector<std::string> seqs;
  for (std::string line; std::getline(in, line);) seqs.push_back(line);

  if (bench > 0) {
    run_bench(*tok, seqs, bench);
  } else {
    for (const std::string& s : seqs) print_one(*tok, s, chunked ? &rule : nullptr, map);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tool_tokenize: %s\n", e.what());
    return 1;
  }
}
