// The tokenizers' structure and errors: spans, special tokens, chunking, the nucleotide map,
// and clear refusals of missing or mismatched files. Token ids are compared with independent
// implementations in test_hf_tokenizers.py.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>
#include <vector>

#include "../common/temp_dir.hpp"
#include "bend/core/error.hpp"
#include "bend/tokenize/chunks.hpp"
#include "bend/tokenize/greedy.hpp"
#include "bend/tokenize/tokenizer.hpp"

using bend::TokenSpan;
using bend_test::slurp;
using bend_test::TempDir;

namespace {

// A file of tests/data (real test data, see its SOURCES.md).
std::string test_data(const std::string& rel) { return std::string(BEND_TEST_DATA_DIR) + "/" + rel; }

std::string error_of(const std::string& kind, const std::string& dir) {
  try {
    bend::make_tokenizer(kind, dir);
  } catch (const bend::Error& e) {
    return e.what();
  }
  return "";
}

struct Encoded {
  std::vector<int32_t> ids = {7, 7};  // encode must clear what was there
  std::vector<TokenSpan> spans = {{3, 3}};
};

Encoded encode(const bend::Tokenizer& tok, const std::string& seq) {
  Encoded e;
  tok.encode(seq, e.ids, e.spans);
  REQUIRE(e.ids.size() == e.spans.size());
  return e;
}

// A minimal BPE tokenizer.json with the given extra top-level entries.
std::string tiny_bpe(const std::string& extra, const std::string& model_type = "BPE") {
  return "{\"model\": {\"type\": \"" + model_type +
         "\", \"vocab\": {\"[UNK]\": 0, \"A\": 1, \"C\": 2, \"AC\": 3, \"G\": 4}, \"merges\": "
         "[\"A C\"], \"unk_token\": \"[UNK]\"}" +
         extra + "}";
}

}  // namespace

TEST_CASE("make_tokenizer names the missing file and lists the known kinds") {
  TempDir tmp;
  CHECK_THAT(error_of("dnabert-6", tmp.path),
             Catch::Contains(tmp.path + "/vocab.txt") && Catch::Contains("missing"));
  CHECK_THAT(error_of("grover", tmp.path), Catch::Contains("vocab.txt"));
  CHECK_THAT(error_of("bpe", tmp.path), Catch::Contains(tmp.path + "/tokenizer.json"));
  CHECK_THAT(error_of("word2vec", tmp.path),
             Catch::Contains("word2vec") && Catch::Contains("nt-v2") && Catch::Contains("grover"));
}

TEST_CASE("config.json vocab_size must match the tokenizer's vocabulary") {
  TempDir tmp;
  tmp.write("vocab.txt", slurp(test_data("tokenizers/dnabert-3/vocab.txt")));
  tmp.write("config.json", "{\"vocab_size\": 69}");
  CHECK(bend::make_tokenizer("dnabert-3", tmp.path)->kind() == "dnabert-3");
  tmp.write("config.json", "{\"vocab_size\": 4101}");  // a DNABERT-6 model
  CHECK_THAT(error_of("dnabert", tmp.path), Catch::Contains("config.json") &&
                                                Catch::Contains("4101") &&
                                                Catch::Contains("69 ids"));
  tmp.write("config.json", "{\"vocab_size\": 60}");
  CHECK_THAT(error_of("dnabert", tmp.path),
             Catch::Contains("too small") && Catch::Contains("emits id 68"));
  CHECK_THAT(error_of("dnabert-6", tmp.path),
             Catch::Contains("3-mers") && Catch::Contains("6-mer"));
  // NT v1: 4107 tokens, 4105 embedding rows; <eos> and <bos> are never emitted.
  tmp.write("config.json", "{\"vocab_size\": 4105}");
  TempDir nt;
  nt.write("config.json", "{\"vocab_size\": 4105}");
  CHECK_NOTHROW(bend::make_tokenizer("nt-v1", nt.path));
  nt.write("config.json", "{\"vocab_size\": 4104}");
  CHECK_THAT(error_of("nt-v1", nt.path), Catch::Contains("emits id 4104 ('N')"));
}

TEST_CASE("a vocab.txt with a repeated token is refused with file:line") {
  TempDir tmp;
  tmp.write("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nAAA\nAAC\nAAA\n");
  CHECK_THAT(error_of("dnabert", tmp.path),
             Catch::Contains(tmp.path + "/vocab.txt:7") && Catch::Contains("'AAA'"));
}

TEST_CASE("unsupported tokenizer.json components are refused by name") {
  TempDir tmp;
  tmp.write("tokenizer.json", tiny_bpe(", \"normalizer\": {\"type\": \"Precompiled\"}"));
  CHECK_THAT(error_of("bpe", tmp.path),
             Catch::Contains("tokenizer.json") && Catch::Contains("'Precompiled'"));
  tmp.write("tokenizer.json", tiny_bpe(", \"pre_tokenizer\": {\"type\": \"Metaspace\"}"));
  CHECK_THAT(error_of("bpe", tmp.path), Catch::Contains("'Metaspace'"));
  tmp.write("tokenizer.json", tiny_bpe("", "Unigram"));
  CHECK_THAT(error_of("bpe", tmp.path), Catch::Contains("'Unigram'"));
  tmp.write("tokenizer.json", tiny_bpe(", \"normalizer\": {\"type\": \"Replace\", \"pattern\": "
                                       "{\"Regex\": \"[ACGT]+\"}, \"content\": \"x\"}"));
  CHECK_THAT(error_of("bpe", tmp.path), Catch::Contains("'[ACGT]+'"));
  tmp.write("tokenizer.json",
            "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"A\": 0}, "
            "\"merges\": [\"A T\"]}}");
  CHECK_THAT(error_of("bpe", tmp.path), Catch::Contains("merges[0]") && Catch::Contains("'T'"));
  tmp.write("tokenizer.json", "{\"model\": ");
  CHECK_THAT(error_of("bpe", tmp.path), Catch::Contains("not valid JSON"));
}

TEST_CASE("BPE input must be ASCII, the error names the byte offset") {
  auto tok = bend::make_tokenizer("bpe", test_data("tokenizers/dnabert2"));
  std::vector<int32_t> ids;
  std::vector<TokenSpan> spans;
  CHECK_THROWS_WITH(tok->encode("ACGT\xc3\xa9", ids, spans),
                    Catch::Contains("byte offset 4") && Catch::Contains("tokenizer.json"));
}

TEST_CASE("GENA-LM: a run of >= 10 N is one '-' token spanning the whole run") {
  auto tok = bend::make_tokenizer("gena-lm", test_data("tokenizers/gena-lm-t2t-32k"));
  const std::string seq = "ACGT" + std::string(25, 'N') + "ACGT" + std::string(9, 'N');
  Encoded e = encode(*tok, seq);
  const int32_t dash = tok->vocab().find("-");
  auto it = std::find(e.ids.begin(), e.ids.end(), dash);
  REQUIRE(it != e.ids.end());
  const TokenSpan s = e.spans[it - e.ids.begin()];
  CHECK(s.start == 4);
  CHECK(s.len_bp == 25);
  CHECK(std::count(e.ids.begin(), e.ids.end(), dash) == 1);  // 9 N stay nucleotides
  std::vector<int32_t> map;
  bend::nucleotide_token_index(e.spans, static_cast<int64_t>(seq.size()), map);
  for (int p = 4; p < 29; p++) CHECK(map[p] == it - e.ids.begin());
  CHECK(std::count(map.begin(), map.end(), -1) == 0);
}

TEST_CASE("DNABERT-2: each N is its own [UNK] covering one nucleotide") {
  auto tok = bend::make_tokenizer("dnabert2", test_data("tokenizers/dnabert2"));
  Encoded e = encode(*tok, "ACGTACNNGT");
  int n_unk = 0;
  int64_t covered = 0;
  for (size_t i = 0; i < e.ids.size(); i++) {
    covered += e.spans[i].len_bp;
    if (e.ids[i] != tok->unk_id()) continue;
    n_unk++;
    CHECK(e.spans[i].len_bp == 1);
  }
  CHECK(n_unk == 2);
  CHECK(covered == 10);
  CHECK(e.ids.front() == tok->prefix_ids()[0]);
  CHECK(e.ids.back() == tok->suffix_ids()[0]);
  CHECK(e.spans.back().start == 10);
}

TEST_CASE("the built-in Nucleotide Transformer vocabularies follow InstaDeep's order") {
  bend::Vocab v1 = bend::nt_vocab(1), v2 = bend::nt_vocab(2);
  CHECK(v1.size() == 4107);
  CHECK(v1.find("<cls>") == 3);
  CHECK(v1.find("AAAAAA") == 4);
  CHECK(v1.find("AAAAAT") == 5);
  CHECK(v1.find("N") == 4104);
  CHECK(v1.find("<eos>") == 4105);
  CHECK(v2.find("<bos>") == 5);
  CHECK(v2.find("AAAAAA") == 6);
  CHECK(v2.find("GGGGGG") == 4101);
  CHECK(v2.find("A") == 4102);
  CHECK(v2.find("N") == 4106);
}

TEST_CASE("NT: <cls> first, no suffix, tokens partition the sequence") {
  auto tok = bend::make_tokenizer("nt-v2", "/nonexistent");
  const std::string seq = "ACGTACGTACGTAGNNACGTACGTAAAc";
  Encoded e = encode(*tok, seq);
  CHECK(e.ids[0] == tok->vocab().find("<cls>"));
  CHECK(tok->suffix_ids().empty());
  std::string joined;
  int64_t next = 0;
  for (size_t i = 1; i < e.ids.size(); i++) {
    CHECK(e.spans[i].start == next);
    next += e.spans[i].len_bp;
    joined += e.ids[i] == tok->unk_id() ? seq.substr(e.spans[i].start, e.spans[i].len_bp)
                                        : tok->token(e.ids[i]);
  }
  CHECK(joined == seq);
  CHECK(tok->token(e.ids[1]) == "ACGTAC");
  CHECK(tok->token(e.ids[3]) == "A");  // 2 bases before N: single tokens, then 6-mers again
  CHECK(tok->token(e.ids[4]) == "G");
  CHECK(tok->token(e.ids[7]) == "ACGTAC");
  CHECK(e.ids.back() == tok->unk_id());  // lower case is unknown
}

TEST_CASE("HyenaDNA and GROVER: unknown bytes are one [UNK] each") {
  auto hy = bend::make_tokenizer("hyenadna", "/nonexistent");
  CHECK(encode(*hy, "ACGTNa").ids == std::vector<int32_t>{0, 7, 8, 9, 10, 11, 6, 1});
  TempDir tmp;
  tmp.write("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nA\nC\nG\nT\nAC\nACG\nACGTT\n");
  auto gr = bend::make_tokenizer("grover", tmp.path);
  Encoded e = encode(*gr, "ACGTTACGxAC");
  CHECK(e.ids == std::vector<int32_t>{2, 11, 10, 1, 9, 3});
  CHECK(e.spans[4].start == 9);
}

TEST_CASE("DNABERT: k-mer spans and BEND's edge repeats when upsampling") {
  const int extra[7][2] = {{0, 0}, {0, 0}, {0, 0}, {1, 1}, {1, 2}, {2, 2}, {2, 3}};  // BEND.md
  const std::string seq = "ACGTTGCANNACGTAGGATCCATGA";
  for (int k = 3; k <= 6; k++) {
    auto tok = bend::make_tokenizer("dnabert", test_data("tokenizers/dnabert-" + std::to_string(k)));
    Encoded e = encode(*tok, seq);
    const int n = static_cast<int>(seq.size()) - k + 1;
    REQUIRE(e.ids.size() == size_t(n + 2));
    for (int i = 0; i < n; i++) CHECK((e.spans[i + 1].start == i && e.spans[i + 1].len_bp == k));
    std::vector<int32_t> want(extra[k][0], 1);
    for (int i = 0; i < n; i++) want.push_back(i + 1);
    for (int i = 0; i < extra[k][1]; i++) want.push_back(n);
    std::vector<int32_t> map;
    bend::nucleotide_token_index(e.spans, static_cast<int64_t>(seq.size()), map);
    CHECK(map == want);
  }
}

TEST_CASE("chunks: DNABERT at 512 bp is one input, longer ones balanced, each with [CLS] [SEP]") {
  auto tok = bend::make_tokenizer("dnabert-3", test_data("tokenizers/dnabert-3"));
  std::string seq;
  for (int i = 0; i < 1100; i++) seq += "ACGT"[(i * 7 + i / 3) % 4];
  std::vector<bend::TokenChunk> chunks;
  bend::encode_chunks(*tok, seq.substr(0, 512), {0, 512}, chunks);
  REQUIRE(chunks.size() == 1);
  Encoded whole = encode(*tok, seq.substr(0, 512));
  CHECK(chunks[0].ids == whole.ids);
  bend::encode_chunks(*tok, seq.substr(0, 513), {0, 512}, chunks);
  REQUIRE(chunks.size() == 2);
  CHECK(chunks[0].ids.size() == 258);  // 511 k-mers as 256 + 255, not 510 + 1
  CHECK(chunks[1].ids.size() == 257);
  bend::encode_chunks(*tok, seq, {0, 512}, chunks);
  std::vector<int32_t> content;
  for (const auto& c : chunks) {
    CHECK(c.ids.size() <= 512);
    CHECK(c.ids.front() == tok->prefix_ids()[0]);
    CHECK(c.ids.back() == tok->suffix_ids()[0]);
    content.insert(content.end(), c.ids.begin() + 1, c.ids.end() - 1);
  }
  whole = encode(*tok, seq);
  CHECK(content == std::vector<int32_t>(whole.ids.begin() + 1, whole.ids.end() - 1));
  CHECK_THROWS_WITH(bend::encode_chunks(*tok, seq, {0, 2}, chunks),
                    Catch::Contains("no room for content"));
}

TEST_CASE("chunks: BEND's cuts (--rules bend): DNABERT ids bare in 512s, GENA-LM-style runs") {
  auto tok = bend::make_tokenizer("dnabert-6", test_data("tokenizers/dnabert-6"));
  std::string seq;
  for (int i = 0; i < 1100; i++) seq += "ACGT"[(i * 7 + i / 3) % 4];
  const Encoded whole = encode(*tok, seq);  // [CLS] 1095 k-mers [SEP]: 1097 ids
  std::vector<bend::TokenChunk> chunks;
  bend::encode_chunks(*tok, seq, {0, 512, bend::ChunkCut::kBareIds}, chunks);
  REQUIRE(chunks.size() == 3);
  CHECK(chunks[0].ids.size() == 512);
  CHECK(chunks[1].ids.size() == 512);
  CHECK(chunks[2].ids.size() == 73);
  std::vector<int32_t> all;
  for (const auto& c : chunks) all.insert(all.end(), c.ids.begin(), c.ids.end());
  CHECK(all == whole.ids);  // cut bare: only the first starts with [CLS]
  CHECK(chunks[1].ids.front() != tok->prefix_ids()[0]);
  bend::encode_chunks(*tok, seq.substr(0, 516), {0, 512, bend::ChunkCut::kBareIds}, chunks);
  REQUIRE(chunks.size() == 2);  // 513 ids: the last input is [SEP] alone
  CHECK(chunks[1].ids == tok->suffix_ids());
  bend::encode_chunks(*tok, seq, {0, 512, bend::ChunkCut::kRuns}, chunks);
  REQUIRE(chunks.size() == 3);  // 510 + 510 + 75 k-mers, each [CLS] .. [SEP]
  CHECK(chunks[0].ids.size() == 512);
  CHECK(chunks[2].ids.size() == 77);
  CHECK(chunks[2].ids.front() == tok->prefix_ids()[0]);
  // BEND's DNABERT map: nucleotide p gets k-mer p - 1, clamped (spans of 1100 bp: 1095 6-mers)
  std::vector<int32_t> map;
  bend::nucleotide_token_index(whole.spans, 1100, map, /*kmer_left=*/true);
  CHECK(map[0] == 1);
  CHECK(map[1] == 1);
  CHECK(map[2] == 2);
  CHECK(map[1095] == 1095);
  CHECK(map[1099] == 1095);
  bend::nucleotide_token_index(whole.spans, 1100, map);  // corrected: centred, p - 2
  CHECK(map[2] == 1);
  CHECK(map[3] == 2);
}

TEST_CASE("chunks: max_bp pieces are tokenized on their own, spans in sequence coordinates") {
  auto tok = bend::make_tokenizer("nt-v1", "/nonexistent");
  std::string seq;
  for (int i = 0; i < 40; i++) seq += "ACGT"[(i * 5 + i / 7) % 4];
  std::vector<bend::TokenChunk> chunks;
  bend::encode_chunks(*tok, seq, {16, 1000}, chunks);
  REQUIRE(chunks.size() == 3);  // 16 + 16 + 8 bp: 6 6 1 1 1 1 | 6 6 1 1 1 1 | 6 1 1
  CHECK(chunks[0].ids.size() == 7);
  CHECK(chunks[1].spans[1].start == 16);
  CHECK(chunks[2].ids.size() == 4);
  CHECK(chunks[2].spans.back().start + chunks[2].spans.back().len_bp == 40);
}

TEST_CASE("nucleotide_token_index refuses spans out of order") {
  std::vector<int32_t> map;
  CHECK_THROWS_WITH(bend::nucleotide_token_index({{0, 3}, {5, 2}, {2, 2}}, 8, map),
                    Catch::Contains("out of order"));
  bend::nucleotide_token_index({{0, 0}, {0, 2}, {4, 2}, {6, 0}}, 7, map);
  CHECK(map == std::vector<int32_t>{1, 1, -1, -1, 2, 2, -1});
}
