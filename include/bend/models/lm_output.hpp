// What a language-model Embedder outputs per token (`bend embed --output`, EmbedderOptions::
// output): the last hidden state, the logits of the model's language-model head, or the
// per-token cross-entropy of the input id under that head. Torch-free.
//   masked LMs (BERT, ESM, MosaicBERT): logits of token t = head(hidden_t); loss of token t =
//     -log softmax(logits_t)[id_t], the input id itself (nothing is masked).
//   causal LMs (HyenaDNA): logits of token t = head(hidden_{t-1}), the prediction of token t
//     from the tokens to its left; loss of token t = -log softmax(logits_t)[id_t]. The first
//     token of an input ([CLS]) has no prediction: logits 0, loss 0 (never stored: special).
#pragma once

#include <string>

namespace bend {

enum class LmOutput {
  kHidden,  // last hidden state, dim = hidden size (BEND's embeddings)
  kLogits,  // language-model head logits, dim = the head's vocabulary rows
  kLoss,    // cross-entropy of the input id, dim 1
};

// Parses "hidden" | "logits" | "loss". Throws bend::Error naming `model` for anything else.
LmOutput parse_lm_output(const std::string& output, const std::string& model);
// "hidden", "logits" or "loss".
const char* lm_output_name(LmOutput output);

}  // namespace bend
