#include "bend/models/register.hpp"

#include "bend/embed/embedder.hpp"
#include "bend/models/resnetlm.hpp"

namespace bend {

void register_torch_embedders() {
  // One entry per LibTorch model; the pipeline only ever sees the Embedder interface.
  register_embedder({"resnetlm",
                     "BEND's dilated-CNN ResNet LM (LibTorch), 1 vector per nt, dim = hidden_size",
                     true, make_resnetlm_embedder});
}

}  // namespace bend
