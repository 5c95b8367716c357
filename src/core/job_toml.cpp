#include "bend/core/job_toml.hpp"

#include <set>

#include "bend/core/error.hpp"

namespace bend {
namespace {

class LineParser {
 public:
  LineParser(const std::string& line, const std::string& path, int line_no)
      : s_(line), path_(path), line_no_(line_no) {}

  [[noreturn]] void error(const std::string& what) const {
    fail("%s:%d: %s", path_.c_str(), line_no_, what.c_str());
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  bool at_end_or_comment() {
    skip_space();
    return i_ >= s_.size() || s_[i_] == '#';
  }
  void expect_end(const char* after) {
    if (!at_end_or_comment()) error(std::string("unexpected '") + s_.substr(i_) + "' after " + after);
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }

  // A bare key (letters, digits, '-', '_') or a quoted one.
  std::string key() {
    skip_space();
    if (peek() == '"' || peek() == '\'') {
      std::string k = string_value().text;
      if (k.empty()) error("empty key");
      return k;
    }
    size_t b = i_;
    while (i_ < s_.size() && is_bare(s_[i_])) ++i_;
    if (i_ == b) error("expected a key name" + (i_ < s_.size() ? " at '" + s_.substr(i_) + "'" : std::string()));
    return s_.substr(b, i_ - b);
  }
  // A dotted section name inside [ ].
  std::string section() {
    ++i_;  // '['
    std::string name;
    for (;;) {
      name += key();
      skip_space();
      if (peek() == '.') {
        ++i_;
        name += '.';
        continue;
      }
      break;
    }
    if (peek() != ']') error("section header without ']'");
    ++i_;
    if (peek() == ']') error("arrays of tables ([[...]]) are not used in bend job files");
    expect_end("the section header");
    return name;
  }
  void equals() {
    skip_space();
    if (peek() != '=') error("expected '=' after the key (lines are 'key = value')");
    ++i_;
  }
  TomlValue value(int depth = 0) {
    skip_space();
    const char c = peek();
    if (c == '"' || c == '\'') return string_value();
    if (c == '[') return array_value(depth);
    if (c == '\0' || c == '#') error("missing value after '='");
    size_t b = i_;
    while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != ']' && s_[i_] != '#' && s_[i_] != ' ' && s_[i_] != '\t') ++i_;
    return scalar(s_.substr(b, i_ - b));
  }

 private:
  static bool is_bare(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  }
  TomlValue string_value() {
    const char q = s_[i_++];
    TomlValue v;
    v.kind = TomlValue::kString;
    if (s_.compare(i_, 2, std::string(2, q)) == 0 && i_ + 2 < s_.size() && s_[i_ + 2] == q) {
      error("multi-line strings are not used in bend job files: keep the value on one line");
    }
    while (i_ < s_.size() && s_[i_] != q) {
      char c = s_[i_++];
      if (c == '\\' && q == '"') {
        if (i_ >= s_.size()) break;
        const char e = s_[i_++];
        switch (e) {
          case '"': c = '"'; break;
          case '\\': c = '\\'; break;
          case 'n': c = '\n'; break;
          case 't': c = '\t'; break;
          default: error(std::string("unknown escape '\\") + e + "' in a string");
        }
      } else if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
        error("control character in a string");
      }
      v.text += c;
    }
    if (i_ >= s_.size()) error("unterminated string (strings end on the same line)");
    ++i_;
    return v;
  }
  TomlValue array_value(int depth) {
    if (depth > 0) error("nested arrays are not used in bend job files");
    ++i_;  // '['
    TomlValue v;
    v.kind = TomlValue::kArray;
    for (;;) {
      skip_space();
      if (peek() == ']') break;
      if (peek() == '\0' || peek() == '#') error("unterminated array (arrays end on the same line)");
      v.items.push_back(value(depth + 1));
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != ']') error("expected ',' or ']' in an array");
    }
    ++i_;
    return v;
  }
  TomlValue scalar(const std::string& t) {
    TomlValue v;
    v.text = t;
    if (t == "true" || t == "false") {
      v.kind = TomlValue::kBool;
      return v;
    }
    // Integers: [+-]digits (no '_': CLI11 cannot convert it); floats: also '.', exponent, inf, nan.
    size_t k = (t[0] == '+' || t[0] == '-') ? 1 : 0;
    const std::string body = t.substr(k);
    if (body == "inf" || body == "nan") {
      v.kind = TomlValue::kFloat;
      return v;
    }
    bool digits = false, dot = false, exp = false, ok = !body.empty();
    char prev = '\0';
    for (size_t j = 0; ok && j < body.size(); ++j) {
      const char c = body[j];
      if (c >= '0' && c <= '9') {
        digits = true;
      } else if (c == '.' && !dot && !exp) {
        ok = prev >= '0' && prev <= '9' && j + 1 < body.size() && body[j + 1] >= '0' && body[j + 1] <= '9';
        dot = true;
      } else if ((c == 'e' || c == 'E') && !exp && digits) {
        exp = true;
        if (j + 1 < body.size() && (body[j + 1] == '+' || body[j + 1] == '-')) ++j;
        ok = j + 1 < body.size();
      } else {
        ok = false;
      }
      prev = c;
    }
    if (!ok || !digits) {
      error("value '" + t + "' is not a string (in quotes), number, true/false or [array]");
    }
    v.kind = dot || exp ? TomlValue::kFloat : TomlValue::kInteger;
    return v;
  }

  const std::string& s_;
  const std::string& path_;
  int line_no_;
  size_t i_ = 0;
};

}  // namespace

const char* toml_kind_name(TomlValue::Kind k) {
  switch (k) {
    case TomlValue::kString: return "string";
    case TomlValue::kInteger: return "integer";
    case TomlValue::kFloat: return "float";
    case TomlValue::kBool: return "boolean";
    case TomlValue::kArray: return "array";
  }
  return "?";
}

std::vector<TomlEntry> parse_job_toml(const std::string& text, const std::string& path) {
  std::vector<TomlEntry> out;
  std::set<std::string> sections, keys;  // seen, for duplicates ("section\nkey")
  std::string section;
  int section_line = 0;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find('\0') != std::string::npos) fail("%s:%d: NUL byte (not a text file)", path.c_str(), line_no);
    LineParser p(line, path, line_no);
    if (p.at_end_or_comment()) continue;
    if (p.peek() == '[') {
      section = p.section();
      section_line = line_no;
      if (!sections.insert(section).second) p.error("section [" + section + "] appears twice");
      continue;
    }
    TomlEntry e;
    e.section = section;
    e.section_line = section_line;
    e.line = line_no;
    e.key = p.key();
    p.equals();
    e.value = p.value();
    p.expect_end("the value");
    if (!keys.insert(section + "\n" + e.key).second) {
      p.error("key '" + e.key + "' is given twice" + (section.empty() ? "" : " in [" + section + "]"));
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace bend
