// Any TorchScript module as an Embedder ("torchscript"): a module scripted or traced in Python
// and saved with torch.jit.save, whose forward(ids) takes token ids [batch, len] int64 and
// returns hidden states [batch, len, dim] (a tensor, the first element of a tuple or list, or
// the "last_hidden_state" entry of a dict). Tokens come from a named bend tokenizer
// (bend/tokenize make_tokenizer) reading the checkpoint directory's files; special tokens'
// vectors are dropped and each token's vector repeated over its nucleotides (ChunkedEmbedder).
// The checkpoint directory holds the module file and torchscript.json:
//   {"tokenizer": "hyenadna",      a make_tokenizer kind (EmbedderOptions::tokenizer, i.e.
//                                  `--tokenizer`, overrides it; one of the two is required)
//    "module": "model.pt",         the TorchScript archive (default model.pt)
//    "max_bp": 0, "max_tokens": 0, BEND-style chunking (bend/tokenize/chunks.hpp ChunkRule)
//    "batching": "none"}           "none": one input per call (exact for any module);
//                                  "causal": right-padded batches (exact for causal modules);
//                                  "mask": right-padded, called as forward(ids, attention_mask)
//                                  with attention_mask [batch, len] int64 (1 = real token)
// torch::jit::load reads the archive's pickles with TorchScript's own restricted unpickler
// (no Python, no arbitrary globals) but the archive's TorchScript code runs inside bend: load
// modules only from people you trust (docs/models.md). Plain torch.save pickles are refused.
// Torch-free header.
#pragma once

#include <memory>
#include <string>

#include "bend/embed/embedder.hpp"
#include "bend/tokenize/chunks.hpp"

namespace bend {

// The contents of torchscript.json.
struct TorchScriptSpec {
  std::string tokenizer;                 // make_tokenizer kind
  std::string module_file = "model.pt";  // relative to the checkpoint directory
  ChunkRule rule;                        // {max_bp, max_tokens}; {0, 0}: one input per sequence
  std::string batching = "none";         // "none", "causal" or "mask"
};

// Reads `path` (torchscript.json; "tokenizer" may be absent: ""). Throws bend::Error naming the
// file and key for bad JSON, a non-string "tokenizer", an unknown "batching" or negative sizes.
TorchScriptSpec read_torchscript_spec(const std::string& path);

// Throws bend::Error naming `path` unless it is a TorchScript archive (a zip with constants.pkl
// and code/): a torch.save file (zip with data.pkl only, or a legacy pickle) is refused, saying
// that bend never unpickles Python objects and how to convert. Reads only the zip directory.
void check_torchscript_archive(const std::string& path);

// Builds the "torchscript" Embedder from opts.checkpoint_dir/torchscript.json, its tokenizer
// replaced by opts.tokenizer when given; torchscript.json may then be absent (model.pt, no
// chunking, one input per call). Throws bend::Error naming torchscript.json when neither names
// a tokenizer, and for opts.output other than "hidden" (the module's output is hidden states).
std::unique_ptr<Embedder> make_torchscript_embedder(const EmbedderOptions& opts);
// The same with an explicit spec (e.g. from a --tokenizer option): spec.module_file is relative
// to opts.checkpoint_dir. Checks the archive, loads it on the compute device, and runs it once
// on "ACGT" to learn dim() and check that it returns one vector per input id. dim() = the
// module's output width; fingerprint() = "torchscript:crc32c=xxxxxxxx" over the module,
// torchscript.json and the tokenizer's files. Throws bend::Error naming the file that is wrong.
std::unique_ptr<Embedder> make_torchscript_embedder(const EmbedderOptions& opts,
                                                    const TorchScriptSpec& spec);

}  // namespace bend
