// HyenaDNA (Nguyen et al. 2023), the causal long-convolution DNA model, run with LibTorch from a
// checkpoint directory: config.json + model.safetensors (no tokenizer file: HyenaDNA's character
// vocabulary is fixed, bend/tokenize make_tokenizer("hyenadna")). The forward pass follows the
// published code (HazyResearch hyena-dna standalone_hyenadna.py, LongSafari's modeling_hyena.py):
//   x = word_embeddings(ids)                                     // [batch, len, d_model]
//   per layer (pre-LN): x = x + out_proj(Hyena(LN1(x))); x = x + fc2(gelu_tanh(fc1(LN2(x))))
//   out = ln_f(x)                                                // LayerNorm eps 1e-5
//   Hyena(u): z = in_proj(u) -> [batch, (order+1) d, len]; depthwise Conv1d (kernel 3, padding
//     2, first len outputs: causal); split into x_0 .. x_{order-1}, v; for o = 0 .. order-2:
//     v = v * x_{order-1-o}; v = causal_conv(v, k_o) + bias_o * v (FFT, size 2 len);
//     y = v * x_0. Implicit long filter k (per channel, positions 0 .. len-1):
//     k = MLP(pos_emb.z[:len]) with Linear -> Sin(freq * .) blocks and a last Linear without
//     bias, times (exp(-t |deltas|) + shift) when modulate (shift 0.05, as hyena-dna).
// Tokens: [CLS] + one id per nucleotide + [SEP], pieces of l_max - 2 bp (BEND's chunking);
// BEND drops the [CLS] and [SEP] vectors: one vector per nucleotide. Torch-free header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bend/embed/embedder.hpp"

namespace bend {

class SafetensorsFile;

// A parsed HyenaDNA config.json. Two layouts are read: hyena-dna's own (d_model, n_layer,
// d_inner, vocab_size, "layer": {l_max, emb_dim, filter_order, w, modulate, ...}) as in the
// LongSafari *-seqlen repositories, and the Hugging Face port's flat HyenaConfig keys
// (max_seq_len, emb_dim, filter_order, hyena_order, short_filter_order, activation_freq, ...).
struct HyenaDNAConfig {
  int64_t d_model = 128;
  int64_t n_layer = 2;
  int64_t d_inner = 512;                // MLP width ("d_inner"; null: 4 * d_model)
  int64_t vocab_size = 12;              // tokenizer ids; embedding rows = padded_vocab_size()
  int64_t pad_vocab_size_multiple = 8;  // embedding rows rounded up to a multiple of this
  int64_t l_max = 1026;                 // most ids per input ("layer.l_max" / "max_seq_len")
  int64_t emb_dim = 3;                  // positional features of the filter MLP (odd, >= 3)
  int64_t filter_order = 64;            // width of the filter MLP
  int64_t num_inner_mlps = 2;           // hidden Linear+Sin blocks of the filter MLP
  int64_t order = 2;                    // Hyena recurrence depth ("layer.order" / "hyena_order")
  int64_t short_filter_order = 3;       // depthwise conv width (hyena-dna: always 3)
  double activation_freq = 1;           // Sin frequency when the checkpoint has no freq ("w")
  bool modulate = true;                 // exponential window on the filter
  double modulation_shift = 0.05;       // added to the window ("layer.shift")
  double layer_norm_epsilon = 1e-5;
  double initializer_range = 0.02;  // std of seeded weights ("initializer_range" or
                                    // "initializer_cfg.initializer_range")

  int64_t padded_vocab_size() const;            // vocab_size rounded up to pad_vocab_size_multiple
  int64_t max_bp() const { return l_max - 2; }  // BEND's piece size: l_max minus [CLS], [SEP]
};

// Parses config.json text; `where` names the file in errors. Throws bend::Error naming `where`
// and the key for bad JSON, missing keys (d_model, n_layer, vocab_size, l_max / max_seq_len),
// wrong types, attention layers (attn_layer_idx: not HyenaDNA) or invalid values.
HyenaDNAConfig parse_hyenadna_config(const std::string& json_text, const std::string& where);
// Reads and parses `path`.
HyenaDNAConfig read_hyenadna_config(const std::string& path);
// Throws bend::Error (prefixed with `where`) when sizes are < 1, emb_dim is even or < 3,
// l_max < 3, or short_filter_order > 5 (padding 2 would leave fewer outputs than inputs).
void validate_hyenadna_config(const HyenaDNAConfig& cfg, const std::string& where);

// One weight the model reads: name after the backbone prefix, shape, and whether it may be
// absent (a Sin freq: shared between the filter's Sin layers, so a converter may keep one).
struct HyenaTensorSpec {
  std::string name;  // e.g. "layers.0.mixer.filter_fn.implicit_filter.0.weight"
  std::vector<int64_t> shape;
  bool optional = false;
};
// Every weight, in layer order, named as in the checkpoints after the backbone prefix:
// embeddings.word_embeddings.weight, layers.{i}.mixer.{in_proj,out_proj,short_filter}.*,
// layers.{i}.mixer.filter_fn.{bias,pos_emb.z,pos_emb.t,implicit_filter.{j}.*,modulation.deltas},
// layers.{i}.{norm1,norm2}.*, layers.{i}.mlp.{fc1,fc2}.*, ln_f.*.
std::vector<HyenaTensorSpec> hyenadna_tensor_specs(const HyenaDNAConfig& cfg);
// Checks that `weights` holds the backbone of `cfg` under one prefix ("hyena.backbone." of the
// Hugging Face port, "backbone.", "model.backbone." of a converted Lightning checkpoint, or
// none); lm_head.* / head.* / model.head.* are ignored. Returns the prefix. Throws one
// bend::Error naming the file and listing every missing, unexpected and mis-shaped tensor.
std::string check_hyenadna_weights(const SafetensorsFile& weights, const HyenaDNAConfig& cfg);

// Writes checkpoint directory `dir`: config.json = `config_json_text` as given and
// model.safetensors (F32, "hyena.backbone." names) whose values depend only on `seed`: matrices
// and embeddings ~ N(0, initializer_range), LayerNorm weights 1 + N(0, 0.1), biases N(0, 0.05),
// filter_fn.bias N(0, 1), every Sin freq = activation_freq * (1 + N(0, 0.1)) (one value set,
// shared as in the model), and pos_emb.z / pos_emb.t / modulation.deltas computed as the
// published code does. Atomic ("<dir>.tmp" then rename). Throws bend::Error naming the path when
// `dir` exists and is not empty, the config is invalid or I/O fails.
void write_seeded_hyenadna_checkpoint(const std::string& dir, const std::string& config_json_text,
                                      uint64_t seed);
// Number of weights of `cfg` (the optional freqs counted once per Sin layer).
int64_t hyenadna_parameter_count(const HyenaDNAConfig& cfg);

// Builds the "hyenadna" Embedder from opts.checkpoint_dir. dim() = d_model; one vector per
// nucleotide. opts.output "logits" / "loss" (bend/models/lm_output.hpp) runs the causal LM head
// (lm_head.weight or model.lm_head.weight [padded_vocab_size, d_model], else the tied word
// embeddings): vector t is the prediction of token t from its left context, dim() =
// padded_vocab_size() / 1. Batches of inputs of similar length run right-padded (causal:
// padding never reaches a real position). fingerprint() = "hyenadna:crc32c=xxxxxxxx" over model.safetensors
// then config.json. Throws bend::Error naming the file that is wrong.
std::unique_ptr<Embedder> make_hyenadna_embedder(const EmbedderOptions& opts);

}  // namespace bend
