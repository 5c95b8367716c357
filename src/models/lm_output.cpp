// Parsing of the Embedder output kind (bend/models/lm_output.hpp). Torch-free.
#include "bend/models/lm_output.hpp"

#include "bend/core/error.hpp"

namespace bend {

LmOutput parse_lm_output(const std::string& output, const std::string& model) {
  if (output == "hidden" || output.empty()) return LmOutput::kHidden;
  if (output == "logits") return LmOutput::kLogits;
  if (output == "loss") return LmOutput::kLoss;
  fail("%s: unknown output '%s' (hidden, logits or loss)", model.c_str(), output.c_str());
}

const char* lm_output_name(LmOutput output) {
  switch (output) {
    case LmOutput::kHidden:
      return "hidden";
    case LmOutput::kLogits:
      return "logits";
    case LmOutput::kLoss:
      return "loss";
  }
  return "?";
}

}  // namespace bend
