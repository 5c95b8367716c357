// bend ships as two executables built from the same sources: `bend` (no LibTorch: starts in
// milliseconds; extract, inspect, embed with torch-free models) and `bend-torch` (everything).
// A command that needs LibTorch, run through `bend`, replaces the process with `bend-torch`
// (same directory, same arguments) before MPI starts, so users only ever type `bend`.
#pragma once

namespace bend {

// True in bend-torch (compiled with BEND_TORCH_BUILD).
#ifdef BEND_TORCH_BUILD
inline constexpr bool kTorchBuild = true;
#else
inline constexpr bool kTorchBuild = false;
#endif

// Remembers main()'s arguments for exec_torch_binary().
void set_program_args(int argc, char** argv);

// Replaces this process with bend-torch and the same arguments (argv[0] included). Never returns; throws
// bend::Error naming the missing binary when it cannot be run. `why` is logged at debug level.
[[noreturn]] void exec_torch_binary(const char* why);

}  // namespace bend

// In a command callback: runs `call` in bend-torch, or re-executes bend as bend-torch first.
// Define the functions `call` uses inside `#ifdef BEND_TORCH_BUILD`.
#ifdef BEND_TORCH_BUILD
#define BEND_RUN_WITH_TORCH(what, call) call
#else
#define BEND_RUN_WITH_TORCH(what, call) ::bend::exec_torch_binary(what)
#endif
