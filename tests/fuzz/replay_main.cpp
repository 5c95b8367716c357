// main() for the fuzz targets in the ordinary (gcc) build: runs every file of the seed corpus
// directories given, then mutates them (bit flips, byte sets, inserts, deletes, splices,
// interesting integers) with a fixed seed for `-runs=N` inputs or `-max_total_time=S` seconds,
// whichever ends first. Prints the executions. A finding aborts (fuzz_util.hpp), so ctest fails.
//   fuzz_x [-runs=N] [-max_total_time=S] [-timeout=S] [-seed=K] DIR...
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The input being run, written to ./crash-<pid> by the SIGABRT/SIGSEGV handler (to reproduce:
// run the target on that file alone, or with libFuzzer).
const std::string* g_current = nullptr;

void save_input(int sig) {
  if (g_current) {
    char name[64];
    std::snprintf(name, sizeof name, "crash-%d", static_cast<int>(getpid()));
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ssize_t n = write(fd, g_current->data(), g_current->size());
      (void)n;
      close(fd);
      const char msg[] = "fuzz: the input is saved in ./crash-<pid>\n";
      n = write(2, msg, sizeof msg - 1);
    }
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

std::vector<std::string> read_corpus(const std::vector<std::string>& dirs) {
  std::vector<std::string> out;
  for (const std::string& d : dirs) {
    DIR* dir = opendir(d.c_str());
    if (!dir) {
      std::fprintf(stderr, "cannot open corpus directory %s\n", d.c_str());
      std::exit(2);
    }
    std::vector<std::string> names;
    while (dirent* e = readdir(dir)) {
      if (e->d_name[0] != '.') names.push_back(e->d_name);
    }
    closedir(dir);
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      std::ifstream f(d + "/" + n, std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      out.push_back(ss.str());
    }
  }
  if (out.empty()) out.push_back("");
  return out;
}

void mutate(std::string& s, const std::vector<std::string>& corpus, std::mt19937_64& rng) {
  const int n_ops = 1 + static_cast<int>(rng() % 4);
  for (int k = 0; k < n_ops; ++k) {
    const size_t pos = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 7) {
      case 0:
        if (!s.empty()) s[pos] = static_cast<char>(s[pos] ^ (1 << (rng() % 8)));
        break;
      case 1:
        if (!s.empty()) s[pos] = static_cast<char>(rng() % 256);
        break;
      case 2: {
        static const char* kTokens[] = {"\t", "\n", ",", "-1", "0", "\"", "[", "]", "=", "#",
                                        "..", "/", "4294967295", "99999999999999999999", "\r\n",
                                        "{", "}", ":", "\x00", "nan", "1e308", "true"};
        s.insert(pos, kTokens[rng() % (sizeof kTokens / sizeof kTokens[0])]);
        break;
      }
      case 3:
        if (!s.empty()) s.erase(pos, 1 + rng() % std::min<size_t>(16, s.size() - pos));
        break;
      case 4: {
        const std::string& o = corpus[rng() % corpus.size()];
        if (!o.empty()) {
          const size_t b = rng() % o.size();
          s.insert(pos, o.substr(b, 1 + rng() % std::min<size_t>(64, o.size() - b)));
        }
        break;
      }
      case 5:
        if (s.size() >= pos + 8) {
          static const uint64_t kInts[] = {0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0xffffffff,
                                           0x7fffffffffffffffULL, 0xffffffffffffffffULL};
          const uint64_t v = kInts[rng() % 10];
          std::memcpy(&s[pos], &v, 1 + rng() % 8);
        }
        break;
      default:
        if (!s.empty()) s.resize(rng() % s.size());  // truncation
        break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  long long runs = 2000;
  double max_s = 10;
  uint64_t seed = 19;
  int timeout_s = 10;
  std::vector<std::string> dirs;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "-runs=", 6) == 0) {
      runs = std::atoll(argv[i] + 6);
    } else if (std::strncmp(argv[i], "-max_total_time=", 16) == 0) {
      max_s = std::atof(argv[i] + 16);
    } else if (std::strncmp(argv[i], "-timeout=", 9) == 0) {
      timeout_s = std::atoi(argv[i] + 9);
    } else if (std::strncmp(argv[i], "-seed=", 6) == 0) {
      seed = std::strtoull(argv[i] + 6, nullptr, 10);
    } else if (argv[i][0] == '-') {
      // other libFuzzer flags are accepted and ignored
    } else {
      dirs.push_back(argv[i]);
    }
  }
  const std::vector<std::string> corpus = read_corpus(dirs);
  signal(SIGABRT, save_input);
  signal(SIGSEGV, save_input);
  signal(SIGBUS, save_input);
  signal(SIGALRM, save_input);  // -timeout: one input ran too long (a hang is a finding)
  const auto t0 = std::chrono::steady_clock::now();
  long long n = 0;
  for (const std::string& s : corpus) {
    g_current = &s;
    alarm(timeout_s);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    ++n;
  }
  std::mt19937_64 rng(seed);
  std::string s, slowest;
  double slowest_s = 0;
  for (long long i = 0; i < runs; ++i) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > max_s) break;
    s = corpus[rng() % corpus.size()];
    mutate(s, corpus, rng);
    g_current = &s;
    const auto t_in = std::chrono::steady_clock::now();
    alarm(timeout_s);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    ++n;
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_in).count();
    if (dt > slowest_s) {
      slowest_s = dt;
      slowest = s;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s: %lld executions (%zu seed inputs) in %.1f s, no finding; slowest input %.3f s\n",
              argv[0], n, corpus.size(), secs, slowest_s);
  if (const char* keep = std::getenv("BEND_FUZZ_SLOWEST")) {  // where to write the slowest input
    std::ofstream(keep, std::ios::binary) << slowest;
  }
  return 0;
}
