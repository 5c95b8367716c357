// `--format hdf5`, rank 0's side before any work (protocol step 1 in h5_output.hpp): locking
// the files, checking journaled shards and parameters against them, deciding per file, and
// reserving disk space.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/log.hpp"
#include "bend/pipeline/h5_output.hpp"
#include "bend/pipeline/manifest.hpp"
#include "bend/pipeline/plan.hpp"

namespace bend {

using nlohmann::json;

std::string h5_file_name(const std::string& split) {
  return split + ".h5";
}

void check_output_format(const std::string& format, const std::string& compression) {
  if (format != "tfrecord" && format != "hdf5")
    fail("--format must be tfrecord or hdf5 (got '%s')", format.c_str());
  if (format == "hdf5" && compression != "none") {
    fail(
        "--compression %s cannot be used with --format hdf5: parallel HDF5 writes compressed "
        "datasets only collectively, and bend's ranks write their rows independently; use "
        "--format tfrecord for compressed shards, or compress the finished file with h5repack",
        compression.c_str());
  }
}

H5Rank0Files::H5Rank0Files(const std::string& out_dir, const std::vector<ShardSpec>& shards)
    : out_dir_(out_dir), shards_(shards) {
  make_dirs(out_dir);
  for (const ShardSpec& sh : shards) {
    if (files_.empty() || files_.back().name != sh.file_name) {
      File f;
      f.name = sh.file_name;
      f.split = sh.file_name.substr(0, sh.file_name.size() - 3);
      f.path = path_join(out_dir, sh.file_name);
      f.first_shard = sh.shard_id;
      files_.push_back(f);
    }
    files_.back().n_shards += 1;
  }
  for (File& f : files_) {
    f.created_empty = !path_exists(f.path);
    f.fd = ::open(f.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (f.fd < 0) fail("cannot open %s: %s", f.path.c_str(), std::strerror(errno));
    if (::flock(f.fd, LOCK_EX | LOCK_NB) == 0) continue;
    int e = errno;
    if (e == EWOULDBLOCK) {
      fail(
          "%s is locked by another process: another bend embed or genome is writing it, or an HDF5 "
          "program (h5py, h5dump, ...) has it open. Wait until it has finished, or choose another "
          "--out",
          f.path.c_str());
    }
    if (e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS) {
      log_warn(
          "%s: the file system does not support file locks (%s); two runs on the same "
          "output would not be detected",
          f.path.c_str(), std::strerror(e));
      continue;
    }
    fail("cannot lock %s: %s", f.path.c_str(), std::strerror(e));
  }
}

H5Rank0Files::~H5Rank0Files() {
  for (File& f : files_) {
    f.reader.reset();
    if (f.created_empty && file_size_or_neg(f.path) == 0) ::unlink(f.path.c_str());
    if (f.fd >= 0) ::close(f.fd);
  }
}

bool H5Rank0Files::holds(const std::string& file_name) const {
  for (const File& f : files_) {
    if (f.name == file_name) return true;
  }
  return false;
}

H5Rank0Files::File* H5Rank0Files::find(const std::string& file_name) {
  for (File& f : files_) {
    if (f.name == file_name) return &f;
  }
  return nullptr;
}

// Opens the file read-only (no lock: this process holds it) and reads what decide() needs.
void H5Rank0Files::check_file(File& f) {
  if (f.checked) return;
  f.checked = true;
  if (file_size_or_neg(f.path) <= 0) return;
  try {
    f.reader = std::make_shared<H5EmbeddingReader>(f.path, false, false);
    f.params_json = f.reader->layout().params_json;
    f.complete = f.reader->complete();
    f.format_version = f.reader->format_version();
    f.readable = true;
  } catch (const Error& e) {
    f.reader.reset();
    log_warn("%s: %s", f.path.c_str(), e.what());
  }
}

bool H5Rank0Files::shard_matches(const ShardEntry& e, const json& params) {
  File* f = find(e.file_name);
  if (!f) return false;
  check_file(*f);
  if (!f->readable || f->params_json != params.dump()) return false;
  const H5SplitLayout& L = f->reader->layout();
  int64_t k = e.shard_id - f->first_shard;
  if (k < 0 || k >= f->n_shards || k >= L.n_shards()) return false;
  int64_t first = L.shard_first_row(k), end = L.shard_end_row(k);
  if (first >= end || end - first != e.n_rows) return false;
  try {
    uint64_t n_bytes = 0;
    uint32_t crc = f->reader->rows_crc32c(first, end, n_bytes);
    return crc == e.file_crc32c && n_bytes == e.file_bytes;
  } catch (const Error& err) {
    log_warn("%s", err.what());
    return false;
  }
}

void H5Rank0Files::decide(const json& params, bool overwrite, bool resuming,
                          std::map<int32_t, ShardEntry>& done) {
  for (File& f : files_) {
    check_file(f);
    f.reader.reset();  // the collective open must not meet this read-only handle
    const bool empty = file_size_or_neg(f.path) <= 0;
    int n_done = 0;
    for (int32_t id = f.first_shard; id < f.first_shard + f.n_shards; ++id)
      n_done += done.count(id) ? 1 : 0;
    f.action = kCreate;
    if (empty) {
    } else if (!f.readable) {
      if (!resuming && !overwrite) {
        fail(
            "%s exists and is not a bend embeddings file written by this run; use --overwrite "
            "to replace it, or choose another --out",
            f.path.c_str());
      }
      log_warn(
          "%s is not a readable bend embeddings file (killed while it was created?); "
          "writing it again",
          f.path.c_str());
    } else if (f.params_json != params.dump()) {
      std::string what;
      for (const std::string& d : RunManifest::diff_params(json::parse(f.params_json), params))
        what += "\n  " + d;
      if (!overwrite) {
        fail(
            "%s was written with different parameters:%s\nuse --overwrite to replace it, or "
            "choose another --out",
            f.path.c_str(), what.c_str());
      }
      log_warn("--overwrite: replacing %s (parameters differ:%s)", f.path.c_str(), what.c_str());
    } else if (n_done == f.n_shards && f.complete) {
      f.action = kLeave;
    } else if (n_done > 0 && f.format_version != H5EmbeddingWriter::kFormatVersion) {
      // its attributes have another layout: writing the missing shards into it would mix them
      log_warn("%s: format version %lld (an earlier bend); writing it again", f.path.c_str(),
               static_cast<long long>(f.format_version));
    } else if (n_done > 0) {
      f.action = kReopen;
    }
    if (f.action == kCreate) {
      for (int32_t id = f.first_shard; id < f.first_shard + f.n_shards; ++id) done.erase(id);
    }
  }
}

void H5Rank0Files::reserve(const std::string& file_name, uint64_t n_bytes) {
  File* f = find(file_name);
  BEND_ASSERT(f);
  // KEEP_SIZE: the blocks are reserved but the size stays HDF5's, which sets it when it closes.
  if (::fallocate(f->fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(n_bytes)) == 0) return;
  int e = errno;
  if (e == EOPNOTSUPP || e == ENOSYS || e == EINVAL) return;  // no fallocate here: writes will tell
  if (e == ENOSPC || e == EDQUOT || e == EFBIG) {
    int64_t free_b = free_space_bytes(out_dir_);
    fail(
        "%s: not enough disk space: the file needs %s, the file system has %s free (%s); free "
        "some space or choose another --out",
        f->path.c_str(), human_bytes(static_cast<double>(n_bytes)).c_str(),
        free_b < 0 ? "?" : human_bytes(static_cast<double>(free_b)).c_str(), std::strerror(e));
  }
  fail("%s: cannot reserve %s: %s", f->path.c_str(),
       human_bytes(static_cast<double>(n_bytes)).c_str(), std::strerror(e));
}

}  // namespace bend
