// `bend model init` for HyenaDNA, the AWD-LSTM and GPN (bend/models/causal_lm_init.hpp).
// Torch-free.
#include "bend/models/causal_lm_init.hpp"

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/log.hpp"
#include "bend/models/awdlstm.hpp"
#include "bend/models/caduceus.hpp"
#include "bend/models/gpn.hpp"
#include "bend/models/hyenadna.hpp"
#include "zoo_util.hpp"

namespace bend {

// The --config text with its --set keys replaced; the architectures below cannot start without
// one (`what` describes the file in the error).
static std::string required_config(const CausalLmInitRequest& r, const char* what) {
  if (r.config_path.empty())
    fail("bend model init --arch %s: needs --config (%s)", r.arch.c_str(), what);
  return zoo::set_config_keys(read_file(r.config_path), r.set, r.config_path);
}

std::string init_causal_lm_checkpoint(const CausalLmInitRequest& r) {
  if (r.arch == "hyenadna") {
    const std::string text = required_config(r, "a HyenaDNA config.json");
    const HyenaDNAConfig c = parse_hyenadna_config(text, r.config_path);
    write_seeded_hyenadna_checkpoint(r.out_dir, text, r.seed);
    return strfmt(
        "hyenadna: d_model %lld, n_layer %lld, d_inner %lld, l_max %lld, filter_order %lld, "
        "emb_dim %lld, order %lld, %s parameters, seed %llu",
        (long long)c.d_model, (long long)c.n_layer, (long long)c.d_inner, (long long)c.l_max,
        (long long)c.filter_order, (long long)c.emb_dim, (long long)c.order,
        human_count(double(hyenadna_parameter_count(c))).c_str(), (unsigned long long)r.seed);
  }
  if (r.arch == "awdlstm") {
    const std::string where = r.config_path.empty() ? "bend model init" : r.config_path;
    const std::string base =
        r.config_path.empty() ? awdlstm_config_json(AwdLstmConfig()) : read_file(r.config_path);
    const AwdLstmConfig c = parse_awdlstm_config(zoo::set_config_keys(base, r.set, where), where);
    write_seeded_awdlstm_checkpoint(r.out_dir, c, r.seed);
    return strfmt(
        "awdlstm: input_size %lld, hidden_size %lld, num_hidden_layers %lld, vocab_size %lld, "
        "%s parameters, seed %llu",
        (long long)c.input_size, (long long)c.hidden_size, (long long)c.num_hidden_layers,
        (long long)c.vocab_size, human_count(double(awdlstm_parameter_count(c))).c_str(),
        (unsigned long long)r.seed);
  }
  if (r.arch == "caduceus") {
    const std::string text = required_config(r, "a Caduceus config.json");
    const CaduceusConfig c = parse_caduceus_config(text, r.config_path);
    write_seeded_caduceus_checkpoint(r.out_dir, text, r.seed);
    return strfmt(
        "caduceus: %s, d_model %lld, n_layer %lld, d_state %lld, expand %lld, %s, %s "
        "parameters, seed %llu",
        c.rcps ? "PS (rcps)" : "Ph", (long long)c.d_model, (long long)c.n_layer,
        (long long)c.d_state, (long long)c.expand,
        c.bidirectional ? ("bidirectional " + c.bidirectional_strategy).c_str() : "forward only",
        human_count(double(caduceus_parameter_count(c))).c_str(), (unsigned long long)r.seed);
  }
  if (r.arch == "gpn") {
    const std::string text = required_config(r, "a GPN config.json: model_type ConvNet or GPN");
    const GpnConfig c = parse_gpn_config(text, r.config_path);
    const int64_t n_params = write_seeded_gpn_checkpoint(r.out_dir, text, r.seed);
    return strfmt(
        "gpn: %s, hidden_size %lld, layers %lld, vocab_size %lld, %s parameters, seed %llu",
        c.legacy ? "ConvNet" : "GPN convnet", (long long)c.hidden_size,
        (long long)c.num_hidden_layers, (long long)c.vocab_size,
        human_count(double(n_params)).c_str(), (unsigned long long)r.seed);
  }
  fail("bend model init: '%s' is not hyenadna, awdlstm, caduceus or gpn", r.arch.c_str());
}

}  // namespace bend
