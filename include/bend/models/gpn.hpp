// GPN, the convolutional masked DNA language model of songlab-cal/gpn, run with LibTorch.
// Two families, told apart by config.json "model_type" (Hugging Face tensor names, prefix
// "model." for the encoder, "cls." for the masked-LM head):
//   "ConvNet" (gpn/legacy.py; songlab/gpn-brassicales, the GPN BEND evaluates):
//     x = one_hot(ids, hidden_size)                                    // [batch, len, hidden]
//     layer i (kernel_size, dilation d_i):
//       x = x + LN(GELU(Conv1d(x)))        encoder.{i}.conv.1 (conv), .conv.4 (LN)
//       x = x + LN(GELU(Linear(x)))        encoder.{i}.ffn.0 (linear), .ffn.2 (LN)
//     hidden = x; head: cls.decoder.0 Linear, GELU, cls.decoder.2 LN, cls.decoder.3 Linear.
//   "GPN" with "encoder": "convnet" (gpn/model.py GPNModel):
//     x = one_hot(ids, hidden_size), or embeddings.word_embeddings (embedding "embedding")
//     layer i (first_kernel_size for i = 0, else rest_kernel_size; depthwise: groups = hidden
//     for i > 0):
//       x = x + Linear(GELU(Conv1d(LN(x))))           encoder.layer.{i}.conv.{0 LN, 2 conv, 5 lin}
//       x = x + Linear2(GELU(Linear1(LN(x))))         encoder.layer.{i}.ffn.{0 LN, 1, 3}
//     hidden = ln_f(x); head: cls.transform.{0 Linear, 2 LN} with GELU (mlm_head_transform),
//     then cls.decoder. Biases (and LayerNorm biases) only when "bias": true.
//   d_i = min(dilation_max, dilation_base ** ((i % dilation_cycle) // dilation_double_every));
//   Conv1d padding 'same' (zeros); GELU exact (erf); LayerNorm eps 1e-5.
// Tokenizer: GPN's character tokenizer.json ([PAD]=0 [MASK]=1 [UNK]=2 a=3 c=4 g=5 t=6 after a
// Lowercase normalizer), no special tokens: one vector per nucleotide, the whole sequence in one
// input (as BEND's GPNEmbedder). Torch-free header: the forward pass is in src/models/gpn.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bend/embed/embedder.hpp"

namespace bend {

class SafetensorsFile;

// A parsed GPN config.json (GPNConfig / ConvNetConfig field names and defaults).
struct GpnConfig {
  bool legacy = false;  // model_type "ConvNet" (else "GPN")
  int64_t vocab_size = 7;
  int64_t hidden_size = 512;         // also the one-hot width
  int64_t num_hidden_layers = 25;    // ConvNet: "n_layers"
  int64_t intermediate_size = 2048;  // GPN only
  bool embedding_table = false;      // GPN "embedding": "embedding" (else "one_hot")
  bool bias = false;                 // GPN "bias" (ConvNet: always true)
  bool mlm_head_transform = true;    // GPN
  bool depthwise = false;            // GPN
  int64_t first_kernel_size = 9;     // ConvNet: "kernel_size" for every layer
  int64_t rest_kernel_size = 5;
  int64_t dilation_double_every = 1;
  int64_t dilation_max = 9999;  // ConvNet default 32
  int64_t dilation_cycle = 8;   // ConvNet default 6
  int64_t dilation_base = 2;
  double initializer_range = 0.02;  // std of the seeded weights
};

// Parses config.json text; `where` names the file in errors. Throws bend::Error naming `where`
// and the key for bad JSON, wrong types, an unknown model_type, an encoder other than
// "convnet", auxiliary features, or sizes < 1 / vocab_size > hidden_size (one-hot input).
GpnConfig parse_gpn_config(const std::string& json_text, const std::string& where);
// Reads and parses `path`.
GpnConfig read_gpn_config(const std::string& path);

// Dilation and kernel size of layer `layer` (0-based).
int64_t gpn_dilation(const GpnConfig& cfg, int64_t layer);
int64_t gpn_kernel_size(const GpnConfig& cfg, int64_t layer);

// One weight: full Hugging Face name (GPNForMaskedLM / ConvNetForMaskedLM) and its shape.
using GpnTensor = std::pair<std::string, std::vector<int64_t>>;
// The encoder's weights ("model." prefix), in layer order.
std::vector<GpnTensor> gpn_tensor_specs(const GpnConfig& cfg);
// The masked-LM head's weights ("cls." prefix).
std::vector<GpnTensor> gpn_head_tensor_specs(const GpnConfig& cfg);
// Checks that `weights` holds every encoder tensor (and the head's when `with_head`) with its
// shape and a float dtype; other "cls." tensors are ignored. Throws one bend::Error naming the
// file and listing every missing, unexpected and mis-shaped tensor.
void check_gpn_weights(const SafetensorsFile& weights, const GpnConfig& cfg, bool with_head);

// Writes checkpoint directory `dir`: config.json = `config_json_text`, GPN's tokenizer.json and
// model.safetensors (F32, encoder then head) whose values depend only on `seed`: matrices
// ~ N(0, initializer_range), LayerNorm weights 1 + N(0, 0.1), biases N(0, 0.05). Atomic.
// Throws bend::Error naming the path when `dir` is not empty, the config is invalid or I/O
// fails. Returns the parameter count.
int64_t write_seeded_gpn_checkpoint(const std::string& dir, const std::string& config_json_text,
                                    uint64_t seed);

// The "gpn" Embedder from opts.checkpoint_dir (config.json, tokenizer.json, model.safetensors
// or a shard index). dim() = hidden_size, or vocab_size / 1 for opts.output "logits" / "loss"
// (lm_output.hpp, the head must be in the checkpoint). A batch is padded to its longest
// sequence and padded positions are zeroed before every convolution. fingerprint() =
// "gpn:crc32c=xxxxxxxx". Throws bend::Error naming the file that is wrong.
std::unique_ptr<Embedder> make_gpn_embedder(const EmbedderOptions& opts);

}  // namespace bend
