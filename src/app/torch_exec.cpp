#include "torch_exec.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#include "bend/core/error.hpp"

namespace bend {

namespace {
int g_argc = 0;
char** g_argv = nullptr;

// Directory of the running executable (from /proc/self/exe, so PATH lookups do not matter).
std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) fail("cannot read /proc/self/exe: %s", std::strerror(errno));
  std::string path(buf, static_cast<size_t>(n));
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}
}  // namespace

void set_program_args(int argc, char** argv) {
  g_argc = argc;
  g_argv = argv;
}

void exec_torch_binary(const char* why) {
  BEND_ASSERT(g_argv != nullptr);
  if (kTorchBuild) fail("internal: %s reached the torch re-exec inside bend-torch", why);
  if (std::getenv("BEND_TORCH_EXEC") != nullptr) {
    fail("%s needs LibTorch, but bend-torch re-executed bend again (check the installation)", why);
  }
  std::string target = self_dir() + "/bend-torch";
  // argv[0] stays as the user typed it: help texts and the recorded command line say `bend`
  std::vector<char*> args(g_argv, g_argv + g_argc);
  args.push_back(nullptr);
  setenv("BEND_TORCH_EXEC", "1", 1);
  execv(target.c_str(), args.data());
  fail("%s needs LibTorch, which this `bend` does not load; running %s failed: %s "
       "(build or install bend-torch next to bend)", why, target.c_str(), std::strerror(errno));
}

}  // namespace bend
