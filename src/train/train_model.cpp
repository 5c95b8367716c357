// --model of `bend train`: BEND's head as a TrainModel, and the factory of every model.
#include "train_model.hpp"

#include "baselines.hpp"
#include "bend/core/error.hpp"
#include "head.hpp"

namespace bend {

namespace {

// BEND's head on stored embeddings (head.hpp), read in either BatchLoader layout.
class HeadModel : public TrainModel {
 public:
  HeadModel(const HeadConfig& cfg, uint64_t seed) : head_(cfg, seed) {}
  const char* name() const override { return "head"; }
  torch::Tensor forward(const torch::Tensor& x, bool channels_first, const std::vector<int64_t>&) override {
    return channels_first ? head_->forward_channels_first(x) : head_->forward(x);
  }
  int64_t output_length(int64_t len) const override { return head_->output_length(len); }
  NamedTensors parameters() override { return head_named_parameters(head_); }
  void set_training(bool on) override { head_->train(on); }
  void to(const torch::Device& device) override { head_->to(device); }

 private:
  Head head_;
};

}  // namespace

const std::vector<std::string>& train_model_names() {
  static const std::vector<std::string> names = {"head", "resnet-supervised", "basset-supervised"};
  return names;
}

std::unique_ptr<TrainModel> make_train_model(const std::string& name, const HeadConfig& head, uint64_t seed,
                                             SumOverRanks sum) {
  if (name == "head") return std::make_unique<HeadModel>(head, seed);
  if (name == "resnet-supervised") return make_resnet_supervised(resnet_supervised_config(head), seed);
  if (name == "basset-supervised") {
    BassetConfig b;
    b.in_dim = head.input_dim;
    b.n_out = head.n_out;
    return make_basset(b, seed, std::move(sum));
  }
  fail("unknown --model '%s' (valid: head, resnet-supervised, basset-supervised)", name.c_str());
}

}  // namespace bend
