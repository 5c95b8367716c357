// The Tokenizer base, vocab.txt reading and the make_tokenizer factory.
#include "bend/tokenize/tokenizer.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/tokenize/bpe.hpp"
#include "bend/tokenize/greedy.hpp"
#include "bend/tokenize/kmer.hpp"

namespace bend {

void Vocab::add(const std::string& token, int32_t id, const std::string& where) {
  if (id < 0) fail("%s: token '%s' has negative id %d", where.c_str(), token.c_str(), id);
  auto it = ids.find(token);
  if (it != ids.end()) {
    fail("%s: token '%s' appears twice (ids %d and %d)", where.c_str(), token.c_str(), it->second,
         id);
  }
  if (id >= size()) tokens.resize(static_cast<size_t>(id) + 1);
  if (!tokens[id].empty()) {
    fail("%s: tokens '%s' and '%s' share id %d", where.c_str(), tokens[id].c_str(), token.c_str(),
         id);
  }
  tokens[id] = token;
  ids.emplace(token, id);
}

int32_t Vocab::find(const std::string& token) const {
  auto it = ids.find(token);
  return it == ids.end() ? -1 : it->second;
}

int32_t Vocab::require(const std::string& token, const char* what) const {
  const int32_t id = find(token);
  if (id < 0) fail("%s: the %s '%s' is not in the vocabulary", source.c_str(), what, token.c_str());
  return id;
}

Vocab read_vocab_txt(const std::string& path) {
  if (!path_exists(path)) fail("%s: missing (the checkpoint's vocabulary file)", path.c_str());
  const std::string text = read_file(path);
  Vocab v;
  v.source = path;
  size_t pos = 0;
  int32_t line = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string token = text.substr(pos, nl - pos);
    if (!token.empty() && token.back() == '\r') token.pop_back();
    if (token.empty()) fail("%s:%d: empty token", path.c_str(), line + 1);
    v.add(token, line, path + ":" + std::to_string(line + 1));
    line++;
    pos = nl + 1;
  }
  if (line == 0) fail("%s: empty vocabulary", path.c_str());
  return v;
}

void Tokenizer::encode(const std::string& seq, std::vector<int32_t>& ids,
                       std::vector<TokenSpan>& spans) const {
  std::vector<int32_t> content_ids;
  std::vector<TokenSpan> content_spans;
  encode_content(seq, content_ids, content_spans);
  ids.assign(prefix_.begin(), prefix_.end());
  spans.assign(prefix_.size(), TokenSpan{0, 0});
  ids.insert(ids.end(), content_ids.begin(), content_ids.end());
  spans.insert(spans.end(), content_spans.begin(), content_spans.end());
  ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  spans.insert(spans.end(), suffix_.size(), TokenSpan{static_cast<int64_t>(seq.size()), 0});
}

const std::string& Tokenizer::token(int32_t id) const {
  static const std::string empty;
  return id >= 0 && id < vocab_.size() ? vocab_.tokens[id] : empty;
}

std::vector<std::string> tokenizer_kinds() {
  return {"dnabert", "dnabert-3", "dnabert-4", "dnabert-5", "dnabert-6", "nt-v1",
          "nt-v2",   "bpe",       "dnabert2",  "gena-lm",   "hyenadna",  "grover"};
}

namespace {

std::unique_ptr<Tokenizer> build(const std::string& kind, const std::string& dir) {
  if (kind == "dnabert" || (kind.size() == 9 && kind.compare(0, 8, "dnabert-") == 0 &&
                            kind[8] >= '3' && kind[8] <= '6')) {
    const int k = kind == "dnabert" ? 0 : kind[8] - '0';
    return std::make_unique<KmerTokenizer>(read_vocab_txt(path_join(dir, "vocab.txt")), k);
  }
  if (kind == "nt-v1" || kind == "nt-v2") {
    const std::string file = path_join(dir, "vocab.txt");
    Vocab v = path_exists(file) ? read_vocab_txt(file) : nt_vocab(kind == "nt-v1" ? 1 : 2);
    return std::make_unique<GreedyTokenizer>(kind, std::move(v), "<cls>", "", "<unk>", "<pad>",
                                             UnknownRule::kPerWord);
  }
  if (kind == "bpe" || kind == "dnabert2" || kind == "gena-lm") {
    const std::string file = path_join(dir, "tokenizer.json");
    if (!path_exists(file)) fail("%s: missing (the checkpoint's tokenizer file)", file.c_str());
    return std::make_unique<BpeTokenizer>(file);
  }
  if (kind == "hyenadna") {
    return std::make_unique<GreedyTokenizer>(kind, hyenadna_vocab(), "[CLS]", "[SEP]", "[UNK]",
                                             "[PAD]", UnknownRule::kPerByte);
  }
  if (kind == "grover") {
    return std::make_unique<GreedyTokenizer>(kind, read_vocab_txt(path_join(dir, "vocab.txt")),
                                             "[CLS]", "[SEP]", "[UNK]", "[PAD]",
                                             UnknownRule::kPerByte);
  }
  std::string known;
  for (const std::string& k : tokenizer_kinds()) known += (known.empty() ? "" : ", ") + k;
  fail("unknown tokenizer kind '%s' (known: %s)", kind.c_str(), known.c_str());
}

}  // namespace

std::unique_ptr<Tokenizer> make_tokenizer(const std::string& kind, const std::string& dir) {
  std::unique_ptr<Tokenizer> tok = build(kind, dir);
  const std::string config = path_join(dir, "config.json");
  if (!path_exists(config)) return tok;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(config));
  } catch (const nlohmann::json::exception& e) {
    fail("%s: not valid JSON (%s)", config.c_str(), e.what());
  }
  if (j.is_object() && j.contains("vocab_size")) {
    if (!j["vocab_size"].is_number_integer())
      fail("%s: vocab_size is not an integer", config.c_str());
    check_vocab_size(*tok, j["vocab_size"].get<int64_t>(), config);
  }
  return tok;
}

void check_vocab_size(const Tokenizer& tok, int64_t vocab_size, const std::string& config_path) {
  const int32_t top = tok.max_emitted_id();
  if (top >= vocab_size) {
    fail(
        "%s: vocab_size %lld is too small for the tokenizer (%s): it emits id %d ('%s'); the "
        "tokenizer files belong to another model",
        config_path.c_str(), static_cast<long long>(vocab_size), tok.vocab().source.c_str(), top,
        tok.token(top).c_str());
  }
  if (vocab_size > tok.vocab().size()) {
    fail(
        "%s: vocab_size %lld is larger than the tokenizer's %d ids (%s); the tokenizer files "
        "belong to another model",
        config_path.c_str(), static_cast<long long>(vocab_size), tok.vocab().size(),
        tok.vocab().source.c_str());
  }
}

}  // namespace bend
