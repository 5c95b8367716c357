// BPE tokenizer read from a Hugging Face tokenizer.json (DNABERT-2, GENA-LM): the model, the
// added tokens and the post-processor; the text stages are in bpe_text.cpp.
#include "bend/tokenize/bpe.hpp"

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bpe_text.hpp"

namespace bend {

namespace {

using nlohmann::json;

std::string opt_string(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "";
  if (!j[key].is_string()) fail("\"%s\" is not a string", key);
  return j[key].get<std::string>();
}

// model.vocab and added_tokens into one Vocab; returns the added tokens' contents and ids.
void read_vocab(const json& j, const std::string& path, Vocab& vocab,
                std::vector<std::string>& added, std::vector<int32_t>& added_ids) {
  vocab.source = path;
  const json& v = j["model"]["vocab"];
  if (!v.is_object()) fail("%s: model.vocab is not an object (token -> id)", path.c_str());
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() > INT32_MAX) {
      fail("%s: model.vocab['%s'] is not a non-negative id", path.c_str(), it.key().c_str());
    }
    vocab.add(it.key(), it.value().get<int32_t>(), path + ": model.vocab");
  }
  if (!j.contains("added_tokens") || j["added_tokens"].is_null()) return;
  for (const json& a : j["added_tokens"]) {
    if (!a.contains("content") || !a["content"].is_string() || !a.contains("id") ||
        !a["id"].is_number_integer()) {
      fail("%s: added_tokens entry without a string \"content\" and an integer \"id\"",
           path.c_str());
    }
    const std::string content = a["content"].get<std::string>();
    const int32_t id = a["id"].get<int32_t>();
    const int32_t known = vocab.find(content);
    if (known >= 0 && known != id) {
      fail("%s: added token '%s' has id %d but model.vocab says %d", path.c_str(), content.c_str(),
           id, known);
    }
    if (known < 0) vocab.add(content, id, path + ": added_tokens");
    if (!content.empty()) {
      added.push_back(content);
      added_ids.push_back(id);
    }
  }
}

// Prefix and suffix ids of one post-processor (TemplateProcessing, Bert/RobertaProcessing).
void read_post(const json& p, const std::string& path, const Vocab& vocab,
               std::vector<int32_t>& prefix, std::vector<int32_t>& suffix) {
  if (p.is_null()) return;
  const std::string type = p.is_object() ? opt_string(p, "type") : "";
  if (type == "ByteLevel") return;  // offsets only
  if (type == "Sequence") {
    for (const json& sub : p["processors"]) read_post(sub, path, vocab, prefix, suffix);
    return;
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    if (!p["cls"].is_array() || !p["sep"].is_array() || p["cls"].size() != 2 ||
        p["sep"].size() != 2) {
      fail("%s: %s needs \"cls\" and \"sep\" as [token, id]", path.c_str(), type.c_str());
    }
    prefix.insert(prefix.begin(), p["cls"][1].get<int32_t>());
    suffix.push_back(p["sep"][1].get<int32_t>());
    return;
  }
  if (type != "TemplateProcessing") {
    fail("%s: post_processor '%s' is not supported", path.c_str(), type.c_str());
  }
  std::vector<int32_t> before, after;
  bool seen_sequence = false;
  for (const json& item : p["single"]) {
    if (item.contains("Sequence")) {
      if (opt_string(item["Sequence"], "id") != "A") {
        fail("%s: TemplateProcessing single template uses sequence B", path.c_str());
      }
      seen_sequence = true;
      continue;
    }
    const std::string name = opt_string(item["SpecialToken"], "id");
    if (!p["special_tokens"].contains(name)) {
      fail("%s: TemplateProcessing special token '%s' is not in special_tokens", path.c_str(),
           name.c_str());
    }
    for (const json& id : p["special_tokens"][name]["ids"]) {
      (seen_sequence ? after : before).push_back(id.get<int32_t>());
    }
  }
  prefix.insert(prefix.begin(), before.begin(), before.end());
  suffix.insert(suffix.end(), after.begin(), after.end());
}

// A symbol of a word being merged, as in the Rust crate's Word.
struct Symbol {
  int32_t id;
  int32_t prev;        // index of the previous live symbol, -1 at the start
  int32_t next;        // index of the next live symbol, -1 at the end
  int64_t begin, end;  // origin in the input, bp
  bool alive;
};

// The pending merges of a word, popped lowest rank first, then leftmost position: the order of
// the Rust crate's BinaryHeap<Merge>. Kept as one position list per rank, sorted when its rank
// is reached (and again after out-of-order pushes), plus a min-heap of the ranks with entries:
// a single heap over a 1 Mbp word spends most of BPE's time missing the cache.
class MergeQueue {
 public:
  void reset(size_t n_ranks) {
    for (int32_t r : touched_) by_rank_[r] = Bucket();
    touched_.clear();
    ranks_.clear();
    if (by_rank_.size() < n_ranks) by_rank_.resize(n_ranks);
  }
  void push(int32_t rank, int32_t pos) {
    Bucket& b = by_rank_[rank];
    if (!b.queued) {
      if (b.pos.empty()) touched_.push_back(rank);
      b.queued = true;
      ranks_.push_back(rank);
      std::push_heap(ranks_.begin(), ranks_.end(), std::greater<int32_t>());
    }
    if (b.pos.size() > b.head && pos < b.pos.back()) b.sorted = false;
    b.pos.push_back(pos);
  }
  // The next (rank, pos); false when empty.
  bool pop(int32_t& rank, int32_t& pos) {
    while (!ranks_.empty()) {
      rank = ranks_.front();
      Bucket& b = by_rank_[rank];
      if (b.head == b.pos.size()) {
        std::pop_heap(ranks_.begin(), ranks_.end(), std::greater<int32_t>());
        ranks_.pop_back();
        b.queued = false;
        b.pos.clear();
        b.head = 0;
        b.sorted = true;
        continue;
      }
      if (!b.sorted) {
        std::sort(b.pos.begin() + static_cast<std::ptrdiff_t>(b.head), b.pos.end());
        b.sorted = true;
      }
      pos = b.pos[b.head++];
      return true;
    }
    return false;
  }

 private:
  struct Bucket {
    std::vector<int32_t> pos;  // queued positions; [head, end) still pending
    size_t head = 0;
    bool sorted = true;   // [head, end) is in increasing order
    bool queued = false;  // the rank is in ranks_
  };
  std::vector<Bucket> by_rank_;   // [n_ranks]
  std::vector<int32_t> touched_;  // ranks used by the current word
  std::vector<int32_t> ranks_;    // min-heap of ranks with pending positions
};

}  // namespace

// A symbol of a word being merged, as in the Rust crate's Word. Symbol i covers the initial
// symbols i .. next - 1; a merged-away symbol has id -1.
struct BpeSymbol {
  int32_t id;
  int32_t prev;  // index of the previous live symbol, -1 at the start
  int32_t next;  // index of the next live symbol, -1 at the end
};

BpeTokenizer::~BpeTokenizer() = default;

BpeTokenizer::BpeTokenizer(const std::string& path) : path_(path) {
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::exception& e) {
    fail("%s: not valid JSON (%s)", path.c_str(), e.what());
  }
  try {
    if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) {
      fail("no \"model\" object");
    }
    const json& m = j["model"];
    const std::string type = opt_string(m, "type");
    if (type != "BPE" && !(type.empty() && m.contains("merges"))) {
      fail("model type '%s' is not supported (only BPE)", type.c_str());
    }
    read_vocab(j, path, vocab_, added_, added_ids_);
    if (j.contains("normalizer")) read_normalizer_steps(j["normalizer"], path, normalizers_);
    if (j.contains("pre_tokenizer")) {
      read_pre_tokenizer_steps(j["pre_tokenizer"], path, pre_tokenizers_, byte_level_);
    }
    if (j.contains("post_processor"))
      read_post(j["post_processor"], path, vocab_, prefix_, suffix_);
    read_model(m);
  } catch (const json::exception& e) {
    fail("%s: unexpected structure (%s)", path.c_str(), e.what());
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.compare(0, path.size(), path) == 0) throw;
    fail("%s: %s", path.c_str(), msg.c_str());
  }
  pad_id_ = vocab_.find("[PAD]") >= 0 ? vocab_.find("[PAD]") : vocab_.find("<pad>");
  max_emitted_id_ = vocab_.size() - 1;
  for (int32_t id : prefix_) max_emitted_id_ = std::max(max_emitted_id_, id);
  for (int32_t id : suffix_) max_emitted_id_ = std::max(max_emitted_id_, id);
}

void BpeTokenizer::read_model(const json& m) {
  const std::string unk = opt_string(m, "unk_token");
  if (!unk.empty()) unk_id_ = vocab_.require(unk, "BPE unk_token");
  fuse_unk_ = m.value("fuse_unk", false);
  ignore_merges_ = m.value("ignore_merges", false);
  if (m.value("byte_fallback", false)) fail("BPE byte_fallback is not supported");
  if (m.contains("dropout") && !m["dropout"].is_null() && m["dropout"].get<double>() > 0) {
    fail("BPE dropout %g makes tokenization random; not supported", m["dropout"].get<double>());
  }
  const std::string prefix = opt_string(m, "continuing_subword_prefix");
  const std::string suffix = opt_string(m, "end_of_word_suffix");
  // 1. Each byte as the first / middle / last / only character of a word.
  for (int b = 0; b < 256; b++) {
    const std::string c = byte_level_ ? byte_level_char(static_cast<unsigned char>(b))
                                      : std::string(1, static_cast<char>(b));
    char_id_[0][b] = vocab_.find(c);
    char_id_[1][b] = vocab_.find(prefix + c);
    char_id_[2][b] = vocab_.find(prefix + c + suffix);
    char_id_[3][b] = vocab_.find(c + suffix);
  }
  // 2. Merges: "a b" strings or [a, b] pairs; a later duplicate pair wins, as in the crate.
  if (!m.contains("merges") || !m["merges"].is_array()) fail("model has no \"merges\" array");
  const json& merges = m["merges"];
  std::vector<std::pair<uint64_t, Merge>> pairs;
  pairs.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); r++) {
    std::string a, b;
    if (merges[r].is_string()) {
      const std::string line = merges[r].get<std::string>();
      const size_t sp = line.find(' ');
      if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos) {
        fail("merges[%zu] '%s' is not two tokens separated by one space", r, line.c_str());
      }
      a = line.substr(0, sp);
      b = line.substr(sp + 1);
    } else if (merges[r].is_array() && merges[r].size() == 2) {
      a = merges[r][0].get<std::string>();
      b = merges[r][1].get<std::string>();
    } else {
      fail("merges[%zu] is neither \"a b\" nor [a, b]", r);
    }
    const int32_t ia = vocab_.find(a), ib = vocab_.find(b);
    if (ia < 0 || ib < 0)
      fail("merges[%zu]: '%s' is not in the vocabulary", r, (ia < 0 ? a : b).c_str());
    const std::string joined =
        a +
        (!prefix.empty() && b.compare(0, prefix.size(), prefix) == 0 ? b.substr(prefix.size()) : b);
    const int32_t id = vocab_.find(joined);
    if (id < 0) fail("merges[%zu]: merged token '%s' is not in the vocabulary", r, joined.c_str());
    pairs.push_back({(uint64_t(uint32_t(ia)) << 32) | uint32_t(ib), {static_cast<int32_t>(r), id}});
    merge_new_id_.push_back(id);
  }
  build_merge_table(pairs);
}

void BpeTokenizer::build_merge_table(const std::vector<std::pair<uint64_t, Merge>>& pairs) {
  size_t size = 16;
  merge_shift_ = 60;
  while (size < 2 * pairs.size()) {
    size *= 2;
    merge_shift_--;
  }
  merge_table_.assign(size, MergeSlot{kEmpty, {0, 0}});
  for (const auto& kv : pairs) {  // a later duplicate pair overwrites, as in the crate
    size_t h = static_cast<size_t>((kv.first * 0x9E3779B97F4A7C15ull) >> merge_shift_);
    while (merge_table_[h].key != kEmpty && merge_table_[h].key != kv.first) {
      h = (h + 1) & (size - 1);
    }
    merge_table_[h] = {kv.first, kv.second};
  }
}

const BpeTokenizer::Merge* BpeTokenizer::find_merge(int32_t a, int32_t b) const {
  const uint64_t key = (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
  const size_t mask = merge_table_.size() - 1;
  size_t h = static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> merge_shift_);
  while (true) {
    const MergeSlot& slot = merge_table_[h];
    if (slot.key == key) return &slot.merge;
    if (slot.key == kEmpty) return nullptr;
    h = (h + 1) & mask;
  }
}

void BpeTokenizer::encode_word(const NormText& t, size_t from, size_t to, std::vector<int32_t>& ids,
                               std::vector<TokenSpan>& spans) const {
  if (ignore_merges_) {
    std::string word;
    for (size_t i = from; i < to; i++) {
      word += byte_level_ ? byte_level_char(static_cast<unsigned char>(t.s[i])) : t.s.substr(i, 1);
    }
    const int32_t id = vocab_.find(word);
    if (id >= 0) {
      ids.push_back(id);
      spans.push_back({t.begin[from], static_cast<int32_t>(t.end[to - 1] - t.begin[from])});
      return;
    }
  }
  // 1. Characters to symbols; unknown ones become [UNK] (fused when fuse_unk), or are dropped
  //    when the model has no unknown token (the crate's merge_word).
  thread_local std::vector<BpeSymbol> sym;  // reused: encode_word may run on many threads
  thread_local std::vector<int64_t> sym_begin, sym_end;  // origin of each initial symbol
  sym.clear();
  sym_begin.clear();
  sym_end.clear();
  auto add = [&](int32_t id, int64_t b, int64_t e) {
    const int32_t n = static_cast<int32_t>(sym.size());
    sym.push_back({id, n - 1, -1});
    if (n > 0) sym[n - 1].next = n;
    sym_begin.push_back(b);
    sym_end.push_back(e);
  };
  bool pending_unk = false;
  int64_t unk_b = 0, unk_e = 0;
  for (size_t i = from; i < to; i++) {
    const int where = (i == from) ? (i + 1 == to ? 3 : 0) : (i + 1 == to ? 2 : 1);
    const int32_t id = char_id_[where][static_cast<unsigned char>(t.s[i])];
    if (id >= 0) {
      if (pending_unk) add(unk_id_, unk_b, unk_e);
      pending_unk = false;
      add(id, t.begin[i], t.end[i]);
    } else if (unk_id_ >= 0) {
      if (pending_unk && fuse_unk_) {
        unk_e = t.end[i];
        continue;
      }
      if (pending_unk) add(unk_id_, unk_b, unk_e);
      pending_unk = true;
      unk_b = t.begin[i];
      unk_e = t.end[i];
    }
  }
  if (pending_unk) add(unk_id_, unk_b, unk_e);
  // 2. Merge, 3. the surviving symbols are the tokens.
  merge_all(sym);
  const int32_t n = static_cast<int32_t>(sym.size());
  for (int32_t i = 0; i < n; i++) {
    if (sym[i].id < 0) continue;
    const int32_t last = (sym[i].next < 0 ? n : sym[i].next) - 1;
    ids.push_back(sym[i].id);
    spans.push_back({sym_begin[i], static_cast<int32_t>(sym_end[last] - sym_begin[i])});
  }
}

void BpeTokenizer::merge_all(std::vector<BpeSymbol>& sym) const {
  // The lowest-ranked pair, leftmost first, until none applies (the crate's Word::merge_all;
  // an entry whose pair changed since it was queued is skipped).
  thread_local MergeQueue queue;
  queue.reset(merge_new_id_.size());
  for (size_t i = 0; i + 1 < sym.size(); i++) {
    if (const Merge* m = find_merge(sym[i].id, sym[i + 1].id)) {
      queue.push(m->rank, static_cast<int32_t>(i));
    }
  }
  int32_t rank, pos;
  while (queue.pop(rank, pos)) {
    BpeSymbol& cur = sym[pos];
    if (cur.id < 0 || cur.next < 0) continue;
    BpeSymbol& right = sym[cur.next];
    const Merge* now = find_merge(cur.id, right.id);
    const int32_t new_id = merge_new_id_[rank];
    if (now == nullptr || now->new_id != new_id) continue;
    cur.id = new_id;
    right.id = -1;
    cur.next = right.next;
    if (cur.next >= 0) sym[cur.next].prev = pos;
    if (cur.prev >= 0) {
      if (const Merge* m = find_merge(sym[cur.prev].id, cur.id)) queue.push(m->rank, cur.prev);
    }
    if (cur.next >= 0) {
      if (const Merge* m = find_merge(cur.id, sym[cur.next].id)) queue.push(m->rank, pos);
    }
  }
}

void BpeTokenizer::encode_content(const std::string& seq, std::vector<int32_t>& ids,
                                  std::vector<TokenSpan>& spans) const {
  ids.clear();
  spans.clear();
  for (size_t i = 0; i < seq.size(); i++) {
    if (static_cast<unsigned char>(seq[i]) >= 0x80) {
      fail("%s: byte offset %zu of the sequence is not ASCII (0x%02x)", path_.c_str(), i,
           static_cast<unsigned char>(seq[i]));
    }
  }
  // 1. Added tokens are cut out of the raw input first (leftmost, longest).
  size_t piece = 0, i = 0;
  std::vector<NormText> texts;
  std::vector<Word> words;
  auto flush = [&](size_t end) {
    if (end <= piece) return;
    texts.clear();
    words.clear();
    NormText t;
    t.s = seq.substr(piece, end - piece);
    t.begin.resize(t.s.size());
    t.end.resize(t.s.size());
    for (size_t k = 0; k < t.s.size(); k++) {
      t.begin[k] = static_cast<int64_t>(piece + k);
      t.end[k] = static_cast<int64_t>(piece + k + 1);
    }
    // 2. Normalize, 3. pre-tokenize, 4. BPE each word.
    normalize_text(normalizers_, t);
    texts.push_back(std::move(t));
    pre_tokenize_text(pre_tokenizers_, texts, 0, words);
    for (const Word& w : words) encode_word(texts[w.text], w.from, w.to, ids, spans);
  };
  bool added_first[256] = {};
  for (const std::string& a : added_) added_first[static_cast<unsigned char>(a[0])] = true;
  while (i < seq.size()) {
    if (!added_first[static_cast<unsigned char>(seq[i])]) {
      i++;
      continue;
    }
    size_t best = 0, best_k = 0;
    for (size_t k = 0; k < added_.size(); k++) {
      const std::string& a = added_[k];
      if (a.size() > best && seq.compare(i, a.size(), a) == 0) {
        best = a.size();
        best_k = k;
      }
    }
    if (best == 0) {
      i++;
      continue;
    }
    flush(i);
    ids.push_back(added_ids_[best_k]);
    spans.push_back({static_cast<int64_t>(i), static_cast<int32_t>(best)});
    i += best;
    piece = i;
  }
  flush(seq.size());
}

}  // namespace bend
