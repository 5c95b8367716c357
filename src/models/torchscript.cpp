// The "torchscript" Embedder: a TorchScript archive run with torch::jit plus a named tokenizer
// (bend/models/torchscript.hpp).
#include "bend/models/torchscript.hpp"

#include <ATen/Parallel.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/script.h>

#include <algorithm>
#include <fstream>

#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/chunked_embedder.hpp"
#include "bend/models/lm_output.hpp"
#include "torch_zoo.hpp"
#include "zoo_util.hpp"

namespace bend {

namespace {

constexpr int64_t kMaxBatchTokens = int64_t(1) << 15;  // padded ids per call when batching

const char* kConvertHint =
    "bend runs TorchScript archives only and never unpickles Python objects: save the model "
    "with torch.jit.save(torch.jit.script(model)) (or torch.jit.trace), or convert its weights "
    "to model.safetensors for a built-in architecture";

class TorchScriptEmbedder : public ChunkedEmbedder {
 public:
  TorchScriptEmbedder(const EmbedderOptions& opts, const TorchScriptSpec& spec);

 protected:
  void forward_inputs(const std::vector<const std::vector<int32_t>*>& inputs,
                      std::vector<std::vector<float>>& hidden) override;

 private:
  at::Tensor run(const std::vector<const std::vector<int32_t>*>& inputs,
                 const std::vector<size_t>& batch);

  TorchScriptSpec spec_;
  std::string module_path_;
  at::Device device_{at::kCPU};
  torch::jit::Module module_;
};

TorchScriptEmbedder::TorchScriptEmbedder(const EmbedderOptions& opts, const TorchScriptSpec& spec)
    : spec_(spec) {
  name_ = "torchscript";
  const std::string& dir = opts.checkpoint_dir;
  if (dir.empty()) fail("torchscript: needs a checkpoint directory");
  module_path_ = path_join(dir, spec.module_file);
  tokenizer_ = make_tokenizer(spec.tokenizer, dir);
  rule_ = spec.rule;
  device_ = zoo::select_torch_device("torchscript", opts.use_cuda, opts.local_rank);
  if (opts.n_threads > 0) at::set_num_threads(opts.n_threads);
  check_torchscript_archive(module_path_);
  try {
    module_ = torch::jit::load(module_path_, device_);
  } catch (const c10::Error& e) {
    fail("%s: torch::jit::load failed: %s", module_path_.c_str(), e.what_without_backtrace());
  }
  module_.eval();
  // One probe input learns the width and checks one vector per id.
  std::vector<TokenChunk> probe;
  encode_chunks(*tokenizer_, "ACGT", rule_, probe);
  c10::InferenceMode inference_guard;
  const at::Tensor y = run({&probe[0].ids}, {0});
  dim_ = y.size(2);
  std::vector<std::string> files = {module_path_, path_join(dir, "torchscript.json")};
  for (const char* f : {"vocab.txt", "tokenizer.json", "config.json"})
    files.push_back(path_join(dir, f));
  uint32_t crc = zoo::files_crc32c(files);
  // The tokenizer kind changes the ids; torchscript.json's own is covered by its bytes.
  if (!opts.tokenizer.empty())
    crc = crc32c_extend(crc, spec.tokenizer.data(), spec.tokenizer.size());
  fingerprint_ = strfmt("torchscript:crc32c=%08x", crc);
}

// The hidden-state tensor in a module's return value.
at::Tensor hidden_of(const c10::IValue& v, const std::string& where) {
  if (v.isTensor()) return v.toTensor();
  if (v.isTuple() && !v.toTupleRef().elements().empty())
    return hidden_of(v.toTupleRef().elements()[0], where);
  if (v.isList() && !v.toListRef().empty()) return hidden_of(v.toListRef()[0], where);
  if (v.isGenericDict()) {
    for (const auto& kv : v.toGenericDict()) {
      if (kv.key().isString() && kv.key().toStringRef() == "last_hidden_state")
        return hidden_of(kv.value(), where);
    }
  }
  fail(
      "%s: forward returned %s; expected a [batch, len, dim] tensor, a tuple or list starting "
      "with one, or a dict with \"last_hidden_state\"",
      where.c_str(), v.tagKind().c_str());
}

// Runs inputs `batch` of `inputs` as one call; returns [n, max_len, dim] float32 on the CPU.
at::Tensor TorchScriptEmbedder::run(const std::vector<const std::vector<int32_t>*>& inputs,
                                    const std::vector<size_t>& batch) {
  const int32_t pad = std::max(0, tokenizer_->pad_id());
  at::Tensor ids = zoo::padded_ids(inputs, batch, pad);
  std::vector<c10::IValue> args = {ids.to(device_)};
  if (spec_.batching == "mask") {
    at::Tensor mask = at::zeros_like(ids);
    for (size_t b = 0; b < batch.size(); b++)
      mask[int64_t(b)].narrow(0, 0, int64_t(inputs[batch[b]]->size())).fill_(1);
    args.push_back(mask.to(device_));
  }
  at::Tensor y;
  try {
    y = hidden_of(module_.forward(args), module_path_);
  } catch (const c10::Error& e) {
    fail("%s: forward failed on ids of shape [%lld, %lld]: %s", module_path_.c_str(),
         (long long)ids.size(0), (long long)ids.size(1), e.what_without_backtrace());
  }
  if (y.dim() != 3 || y.size(0) != ids.size(0) || y.size(1) != ids.size(1)) {
    fail(
        "%s: forward returned shape %s for ids [%lld, %lld]; bend needs [batch, len, dim]: one "
        "vector per input id",
        module_path_.c_str(), zoo::shape_str(y.sizes().vec()).c_str(), (long long)ids.size(0),
        (long long)ids.size(1));
  }
  return y.to(at::kCPU, at::kFloat).contiguous();
}

void TorchScriptEmbedder::forward_inputs(const std::vector<const std::vector<int32_t>*>& inputs,
                                         std::vector<std::vector<float>>& hidden) {
  std::vector<int64_t> lengths;
  for (const std::vector<int32_t>* v : inputs) lengths.push_back(int64_t(v->size()));
  std::vector<std::vector<size_t>> batches;
  if (spec_.batching == "none") {
    for (size_t i = 0; i < inputs.size(); i++) batches.push_back({i});
  } else {
    batches = zoo::length_batches(lengths, kMaxBatchTokens);
  }
  c10::InferenceMode inference_guard;
  c10::NoGradGuard no_grad;
  hidden.assign(inputs.size(), {});
  for (const std::vector<size_t>& batch : batches) {
    const at::Tensor y = run(inputs, batch);
    if (y.size(2) != dim_) {
      fail("%s: forward returned width %lld, earlier %lld", module_path_.c_str(),
           (long long)y.size(2), (long long)dim_);
    }
    zoo::copy_batch_rows(y, batch, lengths, hidden);
  }
}

}  // namespace

TorchScriptSpec read_torchscript_spec(const std::string& path) {
  const nlohmann::json j = zoo::parse_json_object(read_file(path), path);
  TorchScriptSpec s;
  if (j.contains("tokenizer")) {
    if (!j["tokenizer"].is_string())
      fail("%s: \"tokenizer\" must be a tokenizer kind (e.g. \"hyenadna\", \"dnabert-6\")",
           path.c_str());
    s.tokenizer = j["tokenizer"].get<std::string>();
  }
  if (j.contains("module")) {
    if (!j["module"].is_string()) fail("%s: \"module\" must be a file name", path.c_str());
    s.module_file = j["module"].get<std::string>();
  }
  s.rule.max_bp = zoo::json_int(j, "max_bp", path, 0);
  s.rule.max_tokens = zoo::json_int(j, "max_tokens", path, 0);
  if (s.rule.max_bp < 0 || s.rule.max_tokens < 0)
    fail("%s: max_bp and max_tokens must be >= 0", path.c_str());
  if (j.contains("batching")) {
    if (!j["batching"].is_string()) fail("%s: \"batching\" must be a string", path.c_str());
    s.batching = j["batching"].get<std::string>();
  }
  if (s.batching != "none" && s.batching != "causal" && s.batching != "mask") {
    fail("%s: \"batching\" is \"%s\"; expected \"none\", \"causal\" or \"mask\"", path.c_str(),
         s.batching.c_str());
  }
  return s;
}

void check_torchscript_archive(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("%s: cannot open", path.c_str());
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  if (std::memcmp(magic, "PK\x03\x04", 4) != 0) {
    const bool pickle = static_cast<unsigned char>(magic[0]) == 0x80;
    fail("%s: not a TorchScript archive (%s); %s", path.c_str(),
         pickle ? "a Python pickle, e.g. a legacy torch.save file" : "not a zip file",
         kConvertHint);
  }
  std::vector<std::string> records;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    records = reader.getAllRecords();
  } catch (const c10::Error& e) {
    fail("%s: not a readable PyTorch archive (%s)", path.c_str(), e.what_without_backtrace());
  }
  bool constants = false, code = false;
  for (const std::string& r : records) {
    constants = constants || r == "constants.pkl";
    code = code || zoo::starts_with(r, "code/");
  }
  if (!constants || !code) {
    fail("%s: a torch.save checkpoint (pickled Python objects%s), not a TorchScript archive; %s",
         path.c_str(), constants ? "" : ", no constants.pkl", kConvertHint);
  }
}

std::unique_ptr<Embedder> make_torchscript_embedder(const EmbedderOptions& opts,
                                                    const TorchScriptSpec& spec) {
  if (parse_lm_output(opts.output, "torchscript") != LmOutput::kHidden)
    fail("torchscript: the module returns hidden states; --output %s is not available",
         opts.output.c_str());
  return std::unique_ptr<Embedder>(new TorchScriptEmbedder(opts, spec));
}

std::unique_ptr<Embedder> make_torchscript_embedder(const EmbedderOptions& opts) {
  if (opts.checkpoint_dir.empty()) fail("torchscript: needs a checkpoint directory");
  const std::string path = path_join(opts.checkpoint_dir, "torchscript.json");
  TorchScriptSpec spec;  // without torchscript.json: model.pt, no chunking, one input per call
  if (path_exists(path) || opts.tokenizer.empty()) spec = read_torchscript_spec(path);
  if (!opts.tokenizer.empty()) spec.tokenizer = opts.tokenizer;  // --tokenizer wins
  if (spec.tokenizer.empty()) {
    fail(
        "%s: no tokenizer: the module needs \"tokenizer\" in torchscript.json or --tokenizer "
        "KIND (e.g. hyenadna, dnabert-6, nt-v2, bpe)",
        path.c_str());
  }
  return make_torchscript_embedder(opts, spec);
}

}  // namespace bend
