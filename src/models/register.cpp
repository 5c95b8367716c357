#include "bend/models/register.hpp"

#include "bend/core/alloc_tuning.hpp"
#include "bend/core/error.hpp"
#include "bend/embed/embedder.hpp"
#include "bend/models/awdlstm.hpp"
#include "bend/models/caduceus.hpp"
#include "bend/models/gpn.hpp"
#include "bend/models/hyenadna.hpp"
#include "bend/models/lm_embedders.hpp"
#include "bend/models/precision.hpp"
#include "bend/models/resnetlm.hpp"
#include "bend/models/torchscript.hpp"

namespace bend {

namespace {

// The models whose checkpoints carry a language-model head (`--output logits | loss`): the
// masked LMs (transformer.hpp) and HyenaDNA's causal head.
bool has_lm_head(const std::string& name) {
  for (const char* n : {"dnabert", "nt", "dnabert2", "gena-lm", "hyenadna", "caduceus"}) {
    if (name == n) return true;
  }
  return false;
}

// One registry entry with the facts `bend models` lists.
EmbedderInfo entry(const char* name, const char* description, EmbedderFactory make, const char* dim,
                   const char* tokenizer, std::string max_input, bool causal, const char* files) {
  EmbedderInfo e;
  e.name = name;
  e.description = description;
  e.needs_checkpoint = true;
  // LibTorch models allocate and free tens of MB of tensors per batch: keep that memory in the
  // process (no page faults per batch; bend/core/alloc_tuning.hpp). The one-hot encoder, which
  // does not, keeps glibc's defaults and its small footprint.
  e.make = [make = std::move(make)](const EmbedderOptions& o) {
    tune_allocator_for_batches();
    return with_precision(make(o), o);  // --precision bf16 / fp16: CUDA autocast
  };
  e.dim = dim;
  e.tokenizer = tokenizer;
  e.max_input = std::move(max_input);
  e.causal = causal;
  e.files = files;
  e.lm_outputs = has_lm_head(name);
  return e;
}

}  // namespace

void register_torch_embedders() {
  // One entry per LibTorch model; the pipeline only ever sees the Embedder interface.
  const char* kHf = "config.json, model.safetensors";
  register_embedder(entry("resnetlm", "BEND's dilated-CNN ResNet LM (LibTorch), 1 vector per nt",
                          make_resnetlm_embedder, "hidden_size", "character (tokenizer.json)",
                          "any length (convolutional)", false,
                          "config.json, model.safetensors, tokenizer.json"));
  register_embedder(entry("dnabert", "DNABERT-k (BERT); BEND's edge upsampling to 1 vector per nt",
                          make_dnabert_embedder, "hidden_size", "overlapping k-mers, k=3..6 (vocab.txt)",
                          strfmt("%lld ids per input; longer: cut bare (--rules bend) or balanced",
                                 (long long)kDnabertMaxTokens),
                          false, "config.json, model.safetensors, vocab.txt"));
  register_embedder(entry("nt", "Nucleotide Transformer v1/v2 (ESM); each vector x len(token)",
                          make_nt_embedder, "hidden_size",
                          "non-overlapping 6-mers from the left, leftovers single (vocab.txt or built in)",
                          strfmt("v1: %lld ids / %lld bp pieces; v2: %lld ids / %lld bp pieces",
                                 (long long)kNtV1MaxTokens, (long long)kNtV1ChunkBp,
                                 (long long)kNtV2MaxTokens, (long long)kNtV2ChunkBp),
                          false, kHf));
  register_embedder(entry("dnabert2", "DNABERT-2 (MosaicBERT: ALiBi, gated MLP); each vector x len(token)",
                          make_dnabert2_embedder, "hidden_size", "BPE (tokenizer.json; each N its own [UNK])",
                          strfmt("%lld bp pieces, each tokenized and embedded whole (ALiBi)",
                                 (long long)kDnabert2ChunkBp),
                          false, "config.json, model.safetensors, tokenizer.json"));
  register_embedder(entry("gena-lm", "GENA-LM BERT pre-LN / BigBird; each vector x its nucleotides",
                          make_gena_lm_embedder, "hidden_size",
                          "BPE (tokenizer.json; runs of >= 10 N become one '-')",
                          strfmt("BERT: %lld, BigBird: %lld ids per input (consecutive or "
                                 "balanced: --rules); BigBird block-sparse above 704",
                                 (long long)kGenaLmBertMaxTokens,
                                 (long long)kGenaLmBigBirdMaxTokens),
                          false, "config.json, model.safetensors, tokenizer.json"));
  register_embedder(entry("hyenadna", "HyenaDNA (Hyena operator, FFT long convolution), 1 vector per nt",
                          make_hyenadna_embedder, "d_model", "character (built in)",
                          "pieces of l_max - 2 bp", true, kHf));
  register_embedder(entry("awdlstm", "BEND's AWD-LSTM, 1 vector per nt", make_awdlstm_embedder,
                          "input_size", "character (tokenizer.json)", "any length (recurrent)", true,
                          "config.json, model.safetensors, tokenizer.json"));
  // Caduceus (bidirectional, reverse-complement equivariant Mamba; src/models/caduceus.cpp).
  register_embedder(entry("caduceus",
                          "Caduceus-Ph / -PS (bidirectional RC-equivariant Mamba), 1 vector per nt",
                          make_caduceus_embedder, "d_model (PS: 2 x d_model)",
                          "character (built in, upper-cased, no special tokens)",
                          strfmt("pieces of %lld bp from the start", (long long)kCaduceusChunkBp),
                          false, kHf));
  // GROVER and GPN (masked LMs with their heads: --output logits | loss).
  EmbedderInfo grover = entry(
      "grover", "GROVER (BERT, greedy-match vocabulary); each vector x len(token)",
      make_grover_embedder, "hidden_size", "greedy longest match over vocab.txt (BEND's max match)",
      strfmt("%lld ids per input ([CLS]/[SEP] included); longer: consecutive runs (--rules bend) or balanced pieces",
             (long long)kGroverMaxTokens),
      false, "config.json, model.safetensors, vocab.txt");
  grover.lm_outputs = true;
  register_embedder(std::move(grover));
  EmbedderInfo gpn = entry("gpn", "GPN (dilated-CNN masked LM: ConvNet / GPN convnet), 1 vector per nt",
                           make_gpn_embedder, "hidden_size", "character (tokenizer.json)",
                           "any length (convolutional; whole sequence, as BEND)", false,
                           "config.json, model.safetensors, tokenizer.json");
  gpn.lm_outputs = true;
  register_embedder(std::move(gpn));
  EmbedderInfo ts = entry("torchscript", "any TorchScript module: ids -> [batch, len, dim]",
                          [](const EmbedderOptions& o) { return make_torchscript_embedder(o); },
                          "the module's output width",
                          "--tokenizer KIND, else named in torchscript.json (any bend tokenizer)",
                          "max_bp / max_tokens in torchscript.json", false,
                          "torchscript.json (optional with --tokenizer), the module file, the "
                          "tokenizer's files");
  ts.named_tokenizer = true;
  register_embedder(std::move(ts));
}

}  // namespace bend
