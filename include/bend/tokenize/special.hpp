// Small helpers shared by the tokenizers in src/tokenize.
#pragma once

#include <string>

namespace bend {

// True for "[CLS]"-style and "<cls>"-style tokens: they are never matched against DNA text.
inline bool is_bracketed_special(const std::string& t) {
  return t.size() >= 3 &&
         ((t.front() == '[' && t.back() == ']') || (t.front() == '<' && t.back() == '>'));
}

}  // namespace bend
