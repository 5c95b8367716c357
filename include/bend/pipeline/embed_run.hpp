// `bend embed` end to end on every rank: load the model, plan on rank 0, check the output
// directory (resume / refuse / overwrite), run the pipelines, write the manifest, summarize.
#pragma once

#include "bend/core/error.hpp"
#include "bend/pipeline/plan.hpp"

namespace bend {

class Comm;

// Runs the whole embedding on all ranks of `comm`. Bad input (found before any work starts)
// throws CollectiveError on every rank; a failure during the run throws bend::Error on the
// rank that hit it (the caller aborts the job); a stop signal (core/stop.hpp) ends it with
// RunStopped on every rank once the manifest says "stopped".
void run_embed(const EmbedParams& params, Comm& comm);

}  // namespace bend
