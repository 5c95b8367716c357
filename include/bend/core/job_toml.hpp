// The TOML that bend job files use (jobs/*.toml, read by `--config`), parsed strictly so that a
// typo is an error naming file:line instead of a run with defaults: `[section]` or
// `[section.sub]` headers, `key = value` lines, '#' comments; values are basic or literal
// strings, integers, floats, true/false and one-line arrays of those. Anything else (a line
// without '=', an unterminated string, `key = maybe`, a key given twice) throws.
#pragma once

#include <string>
#include <vector>

namespace bend {

// One parsed value. `text` is the string's contents, or the literal as written for numbers
// and booleans; arrays hold their elements in `items`.
struct TomlValue {
  enum Kind { kString, kInteger, kFloat, kBool, kArray };
  Kind kind = kString;
  std::string text;
  std::vector<TomlValue> items;  // kArray only
};

// One `key = value` line of the file.
struct TomlEntry {
  std::string section;  // "" before the first header, else e.g. "embed" or "model.init"
  std::string key;
  TomlValue value;
  int line = 0;          // 1-based
  int section_line = 0;  // line of its [section] header (0 before the first)
};

// Parses `text` (the contents of `path`, used in messages). Throws bend::Error
// "path:LINE: <problem>" on the first line that is not valid in this subset of TOML.
std::vector<TomlEntry> parse_job_toml(const std::string& text, const std::string& path);

// "string", "integer", "float", "boolean" or "array", for messages.
const char* toml_kind_name(TomlValue::Kind k);

}  // namespace bend
