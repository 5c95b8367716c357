#include "bend/models/register.hpp"

#include "bend/embed/embedder.hpp"
#include "bend/models/awdlstm.hpp"
#include "bend/models/hyenadna.hpp"
#include "bend/models/lm_embedders.hpp"
#include "bend/models/resnetlm.hpp"
#include "bend/models/torchscript.hpp"

namespace bend {

void register_torch_embedders() {
  // One entry per LibTorch model; the pipeline only ever sees the Embedder interface.
  register_embedder({"resnetlm",
                     "BEND's dilated-CNN ResNet LM (LibTorch), 1 vector per nt, dim = hidden_size",
                     true, make_resnetlm_embedder});
  register_embedder({"dnabert",
                     "DNABERT-k (BERT, vocab.txt k-mers, <= 512 ids per input), BEND's edge "
                     "upsampling, dim = hidden_size",
                     true, make_dnabert_embedder});
  register_embedder({"nt",
                     "Nucleotide Transformer v1/v2 (ESM, 6-mers, <= 1000/2048 ids per input), "
                     "each vector x len(token), dim = hidden_size",
                     true, make_nt_embedder});
  register_embedder({"dnabert2",
                     "DNABERT-2 (MosaicBERT: ALiBi, gated MLP; BPE tokenizer.json), "
                     "each vector x len(token), dim = hidden_size",
                     true, make_dnabert2_embedder});
  register_embedder({"gena-lm",
                     "GENA-LM BERT pre-LN / BigBird (BPE tokenizer.json, <= 512 / 704 ids per "
                     "input), each vector x its nucleotides, dim = hidden_size",
                     true, make_gena_lm_embedder});
  register_embedder({"hyenadna",
                     "HyenaDNA (causal; config.json + model.safetensors, built-in character "
                     "tokenizer, pieces of l_max - 2 bp), 1 vector per nt, dim = d_model",
                     true, make_hyenadna_embedder});
  register_embedder({"awdlstm",
                     "BEND's AWD-LSTM (causal; config.json, tokenizer.json, model.safetensors), "
                     "1 vector per nt, dim = input_size",
                     true, make_awdlstm_embedder});
  register_embedder({"torchscript",
                     "any TorchScript module ids -> [batch, len, dim] (torchscript.json: "
                     "tokenizer kind, module file, chunking, batching), each vector x its nts",
                     true, [](const EmbedderOptions& o) { return make_torchscript_embedder(o); }});
}

}  // namespace bend
