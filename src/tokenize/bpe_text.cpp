// Normalizers and pre-tokenizers of a Hugging Face tokenizer.json, on ASCII text with
// alignments (bpe_text.hpp).
#include "bpe_text.hpp"

#include <cctype>
#include <utility>

#include "bend/core/error.hpp"

namespace bend {

namespace {

using Range = std::pair<size_t, size_t>;  // [first, second) byte range

// Rust's char::is_whitespace on ASCII (includes \v and \f).
inline bool is_ws(unsigned char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}
inline bool is_word(unsigned char c) {
  return std::isalnum(c) || c == '_';
}
inline bool is_punct(unsigned char c) {
  return c < 128 && std::ispunct(c);
}

std::string type_of(const nlohmann::json& j, const std::string& path, const char* what) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    fail("%s: %s is not an object with a \"type\"", path.c_str(), what);
  }
  return j["type"].get<std::string>();
}

// Parses {"String": "x"} or {"Regex": "x{m,}"}: the only regexes DNA tokenizers use are runs of
// one character; anything else is refused rather than matched differently from Hugging Face.
BpePattern read_pattern(const nlohmann::json& j, const std::string& path) {
  BpePattern p;
  if (j.is_object() && j.contains("String") && j["String"].is_string()) {
    p.literal = j["String"].get<std::string>();
    if (p.literal.empty()) fail("%s: empty String pattern", path.c_str());
    return p;
  }
  if (!j.is_object() || !j.contains("Regex") || !j["Regex"].is_string()) {
    fail("%s: pattern is neither {\"String\": ..} nor {\"Regex\": ..}", path.c_str());
  }
  const std::string re = j["Regex"].get<std::string>();
  size_t i = 0;
  if (re.size() >= 2 && re[0] == '\\') {
    if (re[1] == 's') {
      p.run_byte = BpePattern::kRunSpace;
    } else if (!std::isalnum(static_cast<unsigned char>(re[1]))) {
      p.run_byte = static_cast<unsigned char>(re[1]);
    }
    i = 2;
  } else if (!re.empty() && (std::isalnum(static_cast<unsigned char>(re[0])) || re[0] == '-' ||
                             re[0] == ' ' || re[0] == '_')) {
    p.run_byte = static_cast<unsigned char>(re[0]);
    i = 1;
  }
  const std::string q = re.substr(std::min(i, re.size()));
  long long m = 0, n = 0;
  char tail = 0;
  if (p.run_byte < 0) {
    // not a one-character run
  } else if (q.empty()) {
    p.min_run = p.max_run = 1;
  } else if (q == "+") {
    p.min_run = 1;
    p.max_run = -1;
  } else if (std::sscanf(q.c_str(), "{%lld,}%c", &m, &tail) == 1 && q.back() == '}' &&
             q.find(',') == q.size() - 2 && m >= 1) {
    p.min_run = m;
    p.max_run = -1;
  } else if (std::sscanf(q.c_str(), "{%lld,%lld}%c", &m, &n, &tail) == 2 && m >= 1 && n >= m) {
    p.min_run = m;
    p.max_run = n;
  } else {
    p.run_byte = -1;
  }
  if (p.run_byte < 0) {
    fail(
        "%s: regex pattern '%s' is not supported (only a run of one character: X, X+, X{m,}, "
        "X{m,n})",
        path.c_str(), re.c_str());
  }
  return p;
}

// Non-overlapping leftmost-greedy matches of `p` in s[from, to).
void find_matches(const BpePattern& p, const std::string& s, size_t from, size_t to,
                  std::vector<Range>& out) {
  out.clear();
  if (!p.literal.empty()) {
    size_t at = s.find(p.literal, from);
    while (at != std::string::npos && at + p.literal.size() <= to) {
      out.push_back({at, at + p.literal.size()});
      at = s.find(p.literal, at + p.literal.size());
    }
    return;
  }
  auto in_run = [&](unsigned char c) {
    return p.run_byte == BpePattern::kRunSpace ? is_ws(c) : c == p.run_byte;
  };
  size_t i = from;
  while (i < to) {
    if (!in_run(static_cast<unsigned char>(s[i]))) {
      i++;
      continue;
    }
    size_t run_end = i;
    while (run_end < to && in_run(static_cast<unsigned char>(s[run_end]))) run_end++;
    while (static_cast<int64_t>(run_end - i) >= p.min_run) {
      const int64_t take = p.max_run < 0 ? static_cast<int64_t>(run_end - i)
                                         : std::min<int64_t>(p.max_run, run_end - i);
      out.push_back({i, i + take});
      i += take;
    }
    i = run_end;
  }
}

void read_step(const nlohmann::json& j, const std::string& path, const std::string& type,
               BpeStep& st) {
  if (type == "Strip") {
    st.strip_left = j.value("strip_left", true);
    st.strip_right = j.value("strip_right", true);
  } else if (type == "Replace" || type == "Split") {
    if (!j.contains("pattern")) fail("%s: %s without a pattern", path.c_str(), type.c_str());
    st.pattern = read_pattern(j["pattern"], path);
    if (type == "Replace") st.content = j.value("content", std::string());
    if (type == "Split") {
      st.behavior = j.value("behavior", std::string("Isolated"));
      st.invert = j.value("invert", false);
      const std::string& b = st.behavior;
      if (b != "Removed" && b != "Isolated" && b != "MergedWithPrevious" && b != "MergedWithNext" &&
          b != "Contiguous") {
        fail("%s: Split behavior '%s' is not known", path.c_str(), b.c_str());
      }
    }
  } else if (type == "BertNormalizer") {
    st.clean_text = j.value("clean_text", true);
    st.lowercase = j.value("lowercase", true);
  } else if (type == "Lowercase") {
    st.lowercase = true;
  } else if (type == "ByteLevel") {
    st.add_prefix_space = j.value("add_prefix_space", true);
    st.use_regex = j.value("use_regex", true);
  }
}

}  // namespace

void read_normalizer_steps(const nlohmann::json& j, const std::string& path,
                           std::vector<BpeStep>& out) {
  if (j.is_null()) return;
  const std::string type = type_of(j, path, "normalizer");
  if (type == "Sequence") {
    if (!j.contains("normalizers") || !j["normalizers"].is_array()) {
      fail("%s: Sequence normalizer without a \"normalizers\" array", path.c_str());
    }
    for (const auto& sub : j["normalizers"]) read_normalizer_steps(sub, path, out);
    return;
  }
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD" ||
      type == "StripAccents") {
    return;  // no-ops on ASCII
  }
  if (type != "Strip" && type != "Lowercase" && type != "Replace" && type != "BertNormalizer") {
    fail("%s: normalizer '%s' is not supported", path.c_str(), type.c_str());
  }
  BpeStep st;
  st.type = type;
  read_step(j, path, type, st);
  out.push_back(st);
}

void read_pre_tokenizer_steps(const nlohmann::json& j, const std::string& path,
                              std::vector<BpeStep>& out, bool& byte_level) {
  if (j.is_null()) return;
  const std::string type = type_of(j, path, "pre_tokenizer");
  if (type == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array()) {
      fail("%s: Sequence pre_tokenizer without a \"pretokenizers\" array", path.c_str());
    }
    for (const auto& sub : j["pretokenizers"]) read_pre_tokenizer_steps(sub, path, out, byte_level);
    return;
  }
  if (type != "Whitespace" && type != "WhitespaceSplit" && type != "BertPreTokenizer" &&
      type != "Split" && type != "ByteLevel") {
    fail("%s: pre_tokenizer '%s' is not supported", path.c_str(), type.c_str());
  }
  BpeStep st;
  st.type = type;
  read_step(j, path, type, st);
  if (type == "ByteLevel") byte_level = true;
  out.push_back(st);
}

void normalize_text(const std::vector<BpeStep>& steps, NormText& t) {
  std::vector<Range> matches;
  for (const BpeStep& st : steps) {
    NormText out;
    out.s.reserve(t.s.size());
    out.begin.reserve(t.s.size());
    out.end.reserve(t.s.size());
    auto keep = [&](size_t i, char c) {
      out.s.push_back(c);
      out.begin.push_back(t.begin[i]);
      out.end.push_back(t.end[i]);
    };
    if (st.type == "Strip") {
      size_t a = 0, b = t.s.size();
      if (st.strip_left)
        while (a < b && is_ws(static_cast<unsigned char>(t.s[a]))) a++;
      if (st.strip_right)
        while (b > a && is_ws(static_cast<unsigned char>(t.s[b - 1]))) b--;
      for (size_t i = a; i < b; i++) keep(i, t.s[i]);
    } else if (st.type == "Lowercase" || st.type == "BertNormalizer") {
      for (size_t i = 0; i < t.s.size(); i++) {
        unsigned char c = static_cast<unsigned char>(t.s[i]);
        if (st.clean_text) {
          if (c == '\t' || c == '\n' || c == '\r') c = ' ';
          if (c == 0 || c < 32 || c == 127) continue;  // control characters are removed
        }
        keep(i, static_cast<char>(st.lowercase ? std::tolower(c) : c));
      }
    } else {  // Replace: the content of each match takes the whole matched range
      find_matches(st.pattern, t.s, 0, t.s.size(), matches);
      size_t i = 0;
      for (const Range& m : matches) {
        for (; i < m.first; i++) keep(i, t.s[i]);
        for (char c : st.content) {
          out.s.push_back(c);
          out.begin.push_back(t.begin[m.first]);
          out.end.push_back(t.end[m.second - 1]);
        }
        i = m.second;
      }
      for (; i < t.s.size(); i++) keep(i, t.s[i]);
    }
    t = std::move(out);
  }
}

namespace {

// Whitespace: \w+|[^\w\s]+ ; WhitespaceSplit: \S+ ; BertPreTokenizer: \S split at punctuation.
void split_simple(const std::string& type, const std::string& s, size_t from, size_t to,
                  std::vector<Range>& out) {
  size_t i = from;
  while (i < to) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (is_ws(c)) {
      i++;
      continue;
    }
    size_t j = i + 1;
    if (type == "WhitespaceSplit") {
      while (j < to && !is_ws(static_cast<unsigned char>(s[j]))) j++;
    } else if (type == "Whitespace") {
      const bool w = is_word(c);
      while (j < to && !is_ws(static_cast<unsigned char>(s[j])) &&
             is_word(static_cast<unsigned char>(s[j])) == w) {
        j++;
      }
    } else if (!is_punct(c)) {  // BertPreTokenizer: punctuation is isolated
      while (j < to && !is_ws(static_cast<unsigned char>(s[j])) &&
             !is_punct(static_cast<unsigned char>(s[j]))) {
        j++;
      }
    }
    out.push_back({i, j});
    i = j;
  }
}

// Split with a pattern and one of Hugging Face's SplitDelimiterBehavior values.
void split_pattern(const BpeStep& st, const std::string& s, size_t from, size_t to,
                   std::vector<Range>& out) {
  std::vector<Range> matches;
  find_matches(st.pattern, s, from, to, matches);
  std::vector<std::pair<Range, bool>> parts;  // every byte in exactly one part
  size_t i = from;
  for (const Range& m : matches) {
    if (m.first > i) parts.push_back({{i, m.first}, st.invert});
    parts.push_back({m, !st.invert});
    i = m.second;
  }
  if (i < to) parts.push_back({{i, to}, st.invert});
  const std::string& b = st.behavior;
  std::vector<Range> merged;
  bool previous_match = false;
  if (b == "MergedWithNext") {
    for (size_t k = parts.size(); k-- > 0;) {
      const bool is_match = parts[k].second;
      if (is_match && !previous_match && !merged.empty()) {
        merged.back().first = parts[k].first.first;
      } else {
        merged.push_back(parts[k].first);
      }
      previous_match = is_match;
    }
    for (size_t k = merged.size(); k-- > 0;) out.push_back(merged[k]);
    return;
  }
  for (const auto& part : parts) {
    const bool is_match = part.second;
    if (b == "Removed" && is_match) continue;
    const bool join = (b == "MergedWithPrevious" && is_match && !previous_match) ||
                      (b == "Contiguous" && is_match == previous_match);
    if (join && !out.empty() && out.back().second == part.first.first) {
      out.back().second = part.first.second;
    } else {
      out.push_back(part.first);
    }
    previous_match = is_match;
  }
}

// GPT-2's pattern on ASCII: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|
// \s+(?!\S)|\s+
void split_gpt2(const std::string& s, size_t from, size_t to, std::vector<Range>& out) {
  auto cls = [&](size_t k) {  // 0 space, 1 letter, 2 digit, 3 other
    const unsigned char c = static_cast<unsigned char>(s[k]);
    return is_ws(c) ? 0 : std::isalpha(c) ? 1 : std::isdigit(c) ? 2 : 3;
  };
  size_t i = from;
  while (i < to) {
    if (s[i] == '\'' && i + 1 < to) {
      const char* two[] = {"re", "ve", "ll"};
      size_t len = 0;
      if (std::string("stmd").find(s[i + 1]) != std::string::npos) len = 2;
      for (const char* t : two) {
        if (i + 2 < to && s[i + 1] == t[0] && s[i + 2] == t[1]) len = 3;
      }
      if (len > 0) {
        out.push_back({i, i + len});
        i += len;
        continue;
      }
    }
    size_t j = (s[i] == ' ' && i + 1 < to && cls(i + 1) != 0) ? i + 1 : i;
    const int c = cls(j);
    if (c != 0) {
      size_t k = j + 1;
      while (k < to && cls(k) == c) k++;
      out.push_back({i, k});
      i = k;
      continue;
    }
    size_t k = i;
    while (k < to && cls(k) == 0) k++;
    if (k < to && k - i > 1) k--;  // \s+(?!\S): leave the last space to the next word
    out.push_back({i, k});
    i = k;
  }
}

}  // namespace

void pre_tokenize_text(const std::vector<BpeStep>& steps, std::vector<NormText>& texts, size_t text,
                       std::vector<Word>& words) {
  std::vector<Word> cur = {{text, 0, texts[text].s.size()}};
  std::vector<Word> next;
  std::vector<Range> pieces;
  for (const BpeStep& st : steps) {
    next.clear();
    for (Word w : cur) {
      if (st.type == "ByteLevel" && st.add_prefix_space && w.to > w.from &&
          texts[w.text].s[w.from] != ' ') {
        NormText t;
        const NormText& src = texts[w.text];
        t.s = " " + src.s.substr(w.from, w.to - w.from);
        t.begin.assign(1, src.begin[w.from]);
        t.end.assign(1, src.begin[w.from]);
        t.begin.insert(t.begin.end(), src.begin.begin() + w.from, src.begin.begin() + w.to);
        t.end.insert(t.end.end(), src.end.begin() + w.from, src.end.begin() + w.to);
        texts.push_back(std::move(t));
        w = {texts.size() - 1, 0, texts.back().s.size()};
      }
      const std::string& s = texts[w.text].s;
      pieces.clear();
      if (st.type == "Split") {
        split_pattern(st, s, w.from, w.to, pieces);
      } else if (st.type == "ByteLevel") {
        if (st.use_regex) {
          split_gpt2(s, w.from, w.to, pieces);
        } else {
          pieces.push_back({w.from, w.to});
        }
      } else {
        split_simple(st.type, s, w.from, w.to, pieces);
      }
      for (const Range& r : pieces) {
        if (r.second > r.first) next.push_back({w.text, r.first, r.second});
      }
    }
    cur.swap(next);
  }
  for (const Word& w : cur) {
    if (w.to > w.from) words.push_back(w);
  }
}

std::string byte_level_char(unsigned char b) {
  // Printable bytes map to themselves; the others to U+0100 + n in byte order.
  auto printable = [](int x) {
    return (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF);
  };
  int cp = b;
  if (!printable(b)) {
    int n = 0;
    for (int x = 0; x < b; x++) n += printable(x) ? 0 : 1;
    cp = 256 + n;
  }
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

}  // namespace bend
