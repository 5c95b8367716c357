// BEND's AWD-LSTM language model (bend/models/awd_lstm.py, AWDLSTMModelForInference), causal,
// run with LibTorch. Checkpoint directory: config.json (AWDLSTMConfig keys), tokenizer.json
// (character level, as the resnetlm's) and model.safetensors. Inference forward pass:
//   x = embedding(ids)                                            // [len, batch, input_size]
//   layer l = 0 .. n-1: an LSTM of width out_l = (l == n-1 ? input_size : hidden_size) reading
//     in_l = (l == 0 ? input_size : hidden_size), zero initial state, one step per position:
//       pre = i2h(x_t) + h2h(h_{t-1});  i, f, o = sigmoid(pre[0:H]), sigmoid(pre[H:2H]),
//       sigmoid(pre[2H:3H]); g = tanh(pre[3H:4H]); c_t = f c_{t-1} + i g; h_t = o tanh(c_t)
//   output = the last layer's h_t: [batch, len, input_size] (dropouts are off at inference).
// With WeightDrop (weight_dropout_prob > 0) the recurrent weight in effect at inference is
// `weight_raw`; the stored module.h2h.weight may hold a dropped-out copy and is not read.
// With reset_token_id set, BEND zeroes h and c before step t (t >= 2) in rows whose token t-1
// is that id, and, because its state aliases the stored output, also the output at t-1.
// bidirectional models are refused (BEND's backward stack reads the inputs forwards).
// Torch-free header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bend/embed/embedder.hpp"

namespace bend {

class SafetensorsFile;

// config.json of an AWD-LSTM (BEND's AWDLSTMConfig; absent keys take its defaults).
struct AwdLstmConfig {
  int64_t vocab_size = 7;
  int64_t input_size = 64;    // embedding width = the last layer's width = dim()
  int64_t hidden_size = 512;  // width of the other layers
  int64_t num_hidden_layers = 1;
  int64_t reset_token_id = -1;       // null in the file: -1, no resets
  bool bidirectional = false;        // refused when true
  double weight_dropout_prob = 0.5;  // seeded checkpoints: > 0 writes WeightDrop names
  double initializer_range = 0.02;   // std of seeded weights

  int64_t layer_in(int64_t l) const { return l == 0 ? input_size : hidden_size; }
  int64_t layer_out(int64_t l) const {
    return l == num_hidden_layers - 1 ? input_size : hidden_size;
  }
};

// Parses config.json text; `where` names the file. Throws bend::Error naming `where` and the key
// for bad JSON, wrong types, sizes < 1, "bidirectional": true or "batch_first": false (BEND's
// embedder would then run a [1, len] input as len independent one-step sequences).
AwdLstmConfig parse_awdlstm_config(const std::string& json_text, const std::string& where);
// Reads and parses `path`.
AwdLstmConfig read_awdlstm_config(const std::string& path);
// config.json text for `cfg` (model_type "AWDLSTM", the keys BEND's config writes).
std::string awdlstm_config_json(const AwdLstmConfig& cfg);

// One weight: name after the checkpoint prefix, shape, and whether it may be absent.
struct AwdLstmTensorSpec {
  std::string name;  // e.g. "encoder.lstm.0.module.i2h.weight"
  std::vector<int64_t> shape;
  bool optional = false;
};
// Every weight of `cfg`, named as AWDLSTMModel's state dict: embedding.weight, then per layer
// encoder.lstm.{l}.{weight_raw, module.i2h.*, module.h2h.bias, module.h2h.weight (optional)}
// with WeightDrop (`weight_drop`), or encoder.lstm.{l}.{i2h,h2h}.{weight,bias} without.
std::vector<AwdLstmTensorSpec> awdlstm_tensor_specs(const AwdLstmConfig& cfg, bool weight_drop);

// Where the tensors of a checkpoint are.
struct AwdLstmLayout {
  std::string prefix;        // "encoder." (AWDLSTMModelForInference / AWDLSTMForLM) or ""
  bool weight_drop = false;  // WeightDrop names (weight_raw, module.*)
};
// Checks that `weights` holds exactly the tensors of `cfg` (decoder.* of the LM head ignored)
// and returns their layout. Throws one bend::Error naming the file and listing every missing,
// unexpected and mis-shaped tensor.
AwdLstmLayout check_awdlstm_weights(const SafetensorsFile& weights, const AwdLstmConfig& cfg);

// Writes checkpoint directory `dir`: config.json (awdlstm_config_json), tokenizer.json (the
// resnetlm's: [PAD]=0 [MASK]=1 [UNK]=2 a=3 c=4 g=5 t=6, Lowercase) and model.safetensors (F32,
// "encoder." names of AWDLSTMModelForInference; WeightDrop names when weight_dropout_prob > 0,
// with module.h2h.weight a dropped-out copy of weight_raw, as saved after a training step)
// whose values depend only on `seed`: weights ~ N(0, initializer_range), biases N(0, 0.05).
// Atomic. Throws bend::Error naming the path when `dir` exists and is not empty, vocab_size < 7,
// the config is invalid or I/O fails.
void write_seeded_awdlstm_checkpoint(const std::string& dir, const AwdLstmConfig& cfg,
                                     uint64_t seed);
// Number of weights the forward pass reads.
int64_t awdlstm_parameter_count(const AwdLstmConfig& cfg);

// Builds the "awdlstm" Embedder from opts.checkpoint_dir. dim() = input_size; one vector per
// nucleotide, no special tokens (BEND's embedder keeps every position). A batch runs
// right-padded (causal: padding never reaches a real position). fingerprint() =
// "awdlstm:crc32c=xxxxxxxx" over model.safetensors, config.json, tokenizer.json. Throws
// bend::Error naming the file that is wrong.
std::unique_ptr<Embedder> make_awdlstm_embedder(const EmbedderOptions& opts);

}  // namespace bend
