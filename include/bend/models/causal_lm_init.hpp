// `bend model init --arch hyenadna | awdlstm | caduceus | gpn`: a seeded checkpoint of a
// state-space, recurrent or convolutional model from a config.json. Torch-free.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace bend {

// What to write.
struct CausalLmInitRequest {
  std::string arch;         // "hyenadna", "awdlstm", "caduceus" or "gpn"
  std::string out_dir;      // checkpoint directory to create (absent or empty)
  std::string config_path;  // hyenadna, caduceus, gpn: required (e.g. a HyenaDNA repository's config.json);
                            // awdlstm: optional ("" = BEND's AWDLSTMConfig defaults)
  std::map<std::string, std::string> set;  // config keys replaced, values as JSON text; "a.b"
                                           // sets key b of object a (e.g. layer.l_max)
  uint64_t seed = 0;
};

// Writes the checkpoint (write_seeded_{hyenadna,awdlstm,caduceus,gpn}_checkpoint)
// and returns a one-line summary (architecture, sizes, parameter count, seed). Throws
// bend::Error naming the file that is wrong, or for an unknown arch.
std::string init_causal_lm_checkpoint(const CausalLmInitRequest& r);

}  // namespace bend
