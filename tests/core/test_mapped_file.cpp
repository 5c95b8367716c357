// MappedFile (bend/core/mapped_file.hpp): the mapped bytes equal the file's, errors name the
// file, and a file truncated while mapped ends the process with an error naming it instead of a
// bare SIGBUS. The signal cases run in forked children whose stderr goes to a pipe.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>

#include "../common/temp_dir.hpp"
#include "bend/core/error.hpp"
#include "bend/core/mapped_file.hpp"

namespace {

using Catch::Matchers::Contains;

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

struct ChildResult {
  int status = -1;  // exit status, or 1000 + signal
  std::string err;  // what it wrote to stderr
};

ChildResult in_child(const std::function<int()>& body) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    _exit(body());
  }
  close(fds[1]);
  ChildResult r;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) r.err.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
  return r;
}

// Sums every byte of [p, p + n), one per page, so the compiler cannot drop the reads.
int touch(const char* p, size_t n) {
  volatile int sum = 0;
  for (size_t i = 0; i < n; i += 4096) sum = sum + p[i];
  return sum;
}

}  // namespace

TEST_CASE("MappedFile maps a file's bytes; errors name the file", "[mapped_file]") {
  bend_test::TempDir d;
  const std::string path = d.path + "/f.bin";
  std::string bytes(3 * 4096 + 17, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + 7);
  write_file(path, bytes);
  {
    bend::MappedFile m(path, bytes.size());
    REQUIRE(m.size() == bytes.size());
    CHECK(std::memcmp(m.data(), bytes.data(), bytes.size()) == 0);
    bend::MappedFile head(path, 100);  // a prefix
    CHECK(std::memcmp(head.data(), bytes.data(), 100) == 0);
    bend::MappedFile none(path, 0);
    CHECK(none.data() == nullptr);
  }
  CHECK_THROWS_WITH(bend::MappedFile(path, bytes.size() + 1),
                    Contains(path) && Contains("expected at least") && Contains("truncated?"));
  CHECK_THROWS_WITH(bend::MappedFile(d.path + "/missing.bin", 1),
                    Contains("cannot open " + d.path + "/missing.bin"));
}

TEST_CASE("a mapped file truncated under the reader stops the process with its name",
          "[mapped_file]") {
  bend_test::TempDir d;
  const std::string path = d.path + "/shard.tfrecord";
  write_file(path, std::string(64 * 1024, 'x'));
  ChildResult r = in_child([&] {
    bend::MappedFile m(path, 64 * 1024);
    touch(m.data(), 4096);  // fine before
    if (truncate(path.c_str(), 4096) != 0) return 3;
    touch(m.data() + 32 * 1024, 4096);  // past the new end: SIGBUS
    return 4;                           // not reached
  });
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("bend: error: " + path + " changed size while being read"));
}

TEST_CASE("a SIGBUS outside bend's mappings still reaches the handler that was there",
          "[mapped_file]") {
  bend_test::TempDir d;
  const std::string mine = d.path + "/mine.bin", other = d.path + "/other.bin";
  write_file(mine, std::string(8192, 'm'));
  write_file(other, std::string(8192, 'o'));
  ChildResult r = in_child([&] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = [](int) { _exit(7); };
    sigaction(SIGBUS, &sa, nullptr);
    bend::MappedFile m(mine, 8192);  // installs bend's handler over ours
    const int fd = open(other.c_str(), O_RDONLY);
    void* p = mmap(nullptr, 8192, PROT_READ, MAP_SHARED, fd, 0);  // not a MappedFile
    if (p == MAP_FAILED || truncate(other.c_str(), 0) != 0) return 3;
    touch(static_cast<const char*>(p), 4096);  // SIGBUS at an address bend does not know
    return 4;
  });
  CHECK(r.status == 7);
  CHECK(r.err.find("changed size") == std::string::npos);
}
