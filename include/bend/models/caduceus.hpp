// Caduceus (Schiff et al. 2024), the bidirectional, reverse-complement equivariant Mamba DNA
// model, run with LibTorch from a checkpoint directory: config.json + model.safetensors with
// Hugging Face's names (kuleshov-group/caduceus modeling_caduceus.py, CaduceusForMaskedLM).
// Both published variants: Caduceus-Ph ("rcps": false, hidden d_model) and Caduceus-PS
// ("rcps": true, hidden 2 d_model: [forward half, reverse-complement half]). Forward pass:
//   h = word_embeddings(ids); residual = 0        // PS: [E(ids), flip_c(E(comp(ids)))]
//   per layer: residual = h + residual; h = BiMamba(Norm(residual))
//     PS: Norm and BiMamba run on each half, the second half flipped in length and channels
//     (RCPSWrapper / RCPSAddNormWrapper); with "fused_add_norm" (the published checkpoints)
//     RCPSMambaBlock reads the halves swapped, as the published code does
//   out = Norm_f(h + residual)                                  // RMSNorm or LayerNorm
//   BiMamba(x) = Mamba_fwd(x) (+ | *) flip_l(Mamba_rev(flip_l(x)))   ("bidirectional_strategy")
//   Mamba(x): x, z = in_proj(x); x = silu(causal depthwise conv1d(x)); dt, B, C = x_proj(x);
//     delta = softplus(dt_proj(dt)); h_t = exp(delta_t A) h_{t-1} + delta_t B_t x_t;
//     y_t = C_t h_t + D x_t; out = out_proj(y * silu(z)), A = -exp(A_log)
//     (mamba_ssm 1.2.0.post1 mamba_simple.py, selective_scan_ref).
// Tokens: Caduceus' character vocabulary (= HyenaDNA's, upper-cased), no special tokens, pieces
// of 131072 bp from the start (BEND's CaduceusEmbedder). One vector per nucleotide. Torch-free.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bend/embed/embedder.hpp"

namespace bend {

class SafetensorsFile;

// BEND's piece size for Caduceus (its max_length): every published model was trained at 131k.
constexpr int64_t kCaduceusChunkBp = 131072;

// A parsed Caduceus config.json (CaduceusConfig; Mamba's keys from "ssm_cfg").
struct CaduceusConfig {
  int64_t d_model = 256;
  int64_t n_layer = 16;
  int64_t vocab_size = 12;              // as written; embedding rows = padded_vocab_size()
  int64_t pad_vocab_size_multiple = 8;  // rows rounded up to a multiple of this
  int64_t d_state = 16;                 // ssm_cfg.d_state: N
  int64_t d_conv = 4;                   // ssm_cfg.d_conv: causal conv width
  int64_t expand = 2;                   // ssm_cfg.expand: d_inner = expand * d_model
  int64_t dt_rank = 16;                 // ssm_cfg.dt_rank ("auto": ceil(d_model / 16))
  bool conv_bias = true;                // ssm_cfg.conv_bias
  bool bias = false;                    // ssm_cfg.bias: in_proj / out_proj biases
  bool rms_norm = true;                 // RMSNorm (weight only), else LayerNorm
  bool fused_add_norm = true;           // selects the PS block's half order (see above)
  double norm_epsilon = 1e-5;
  bool bidirectional = true;
  std::string bidirectional_strategy = "add";  // "add" | "ew_multiply"
  bool bidirectional_weight_tie = true;        // mamba_rev shares in_proj / out_proj
  bool rcps = false;                           // Caduceus-PS
  std::vector<int64_t> complement_map;         // [padded_vocab_size()] id -> complement id
  double initializer_range = 0.02;             // initializer_cfg.initializer_range (seeding)

  int64_t padded_vocab_size() const;
  int64_t d_inner() const { return expand * d_model; }
  int64_t hidden_dim() const { return rcps ? 2 * d_model : d_model; }  // output width
};

// Parses config.json text; `where` names the file in errors. Throws bend::Error naming `where`
// and the key for bad JSON, missing keys (d_model, n_layer, vocab_size), wrong types, and what
// this implementation does not run: a bidirectional_strategy other than add / ew_multiply,
// ssm_cfg keys of other Mamba versions (e.g. "layer": "Mamba2", "headdim"), rcps without a
// complement_map, or complement ids out of range.
CaduceusConfig parse_caduceus_config(const std::string& json_text, const std::string& where);
// Reads and parses `path`.
CaduceusConfig read_caduceus_config(const std::string& path);

// One weight the model reads: name after the backbone prefix, shape, optional (mamba_rev's
// tied in_proj / out_proj, which Hugging Face's save drops as shared).
struct CaduceusTensorSpec {
  std::string name;  // e.g. "layers.0.mixer.mamba_fwd.in_proj.weight"
  std::vector<int64_t> shape;
  bool optional = false;
};
// Every weight in layer order, named as Hugging Face's state dict after the backbone prefix:
// embeddings.word_embeddings[.embedding].weight, layers.{i}.mixer[.submodule].mamba_{fwd,rev}.
// {in_proj,conv1d,x_proj,dt_proj,out_proj}.*, .A_log, .D, layers.{i}.norm[.submodule].*,
// norm_f[.submodule].* (".embedding" / ".submodule" for PS as its wrappers name them).
std::vector<CaduceusTensorSpec> caduceus_tensor_specs(const CaduceusConfig& cfg);
// Checks that `weights` holds the backbone of `cfg` under one prefix ("caduceus.backbone." of
// CaduceusForMaskedLM, "backbone." of Caduceus, or none); lm_head.* and complement_map buffers
// are ignored. Returns the prefix. Throws one bend::Error naming the file and listing every
// missing, unexpected and mis-shaped tensor.
std::string check_caduceus_weights(const SafetensorsFile& weights, const CaduceusConfig& cfg);
// Number of weights (tied tensors counted once).
int64_t caduceus_parameter_count(const CaduceusConfig& cfg);

// Writes checkpoint directory `dir`: config.json = `config_json_text` as given and
// model.safetensors (F32, "caduceus.backbone." names, tied tensors and the tied LM head left
// out as Hugging Face saves them) whose values depend only on `seed`: matrices, conv kernels and
// embeddings ~ N(0, initializer_range), norm weights 1 + N(0, 0.1), biases N(0, 0.05), D
// 1 + N(0, 0.1), A_log = log(1 .. d_state) + N(0, 0.1), dt_proj.bias = softplus^-1 of dt drawn
// log-uniform in [1e-3, 1e-1] (Mamba's init). Atomic. Throws bend::Error naming the path when
// `dir` exists and is not empty, the config is invalid or I/O fails.
void write_seeded_caduceus_checkpoint(const std::string& dir, const std::string& config_json_text,
                                      uint64_t seed);

// Builds the "caduceus" Embedder from opts.checkpoint_dir. dim() = hidden_dim(); one vector per
// nucleotide. opts.output "logits" (CaduceusForMaskedLM's lm_head: Linear without bias tied to
// the word embeddings unless lm_head.weight / lm_head.lm_head.weight is present; PS: RCPSLMHead)
// gives padded_vocab_size() values per nt; "loss" gives BEND's -log softmax over the A, C, G, T,
// N logits of the input base (nothing masked). Batches of inputs of different lengths run
// right-padded; the reverse scans and flips run within each input's own length, so padding never
// reaches a real position. fingerprint() = "caduceus:crc32c=xxxxxxxx" over model.safetensors
// then config.json. Throws bend::Error naming the file that is wrong.
std::unique_ptr<Embedder> make_caduceus_embedder(const EmbedderOptions& opts);

}  // namespace bend
