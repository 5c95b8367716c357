#include "job_file.hpp"

#include <CLI/CLI.hpp>
#include <cstring>
#include <unistd.h>
#include <string>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/job_toml.hpp"

namespace bend {
namespace {

// The subcommand a dotted section name ("model.init") names, or nullptr.
const CLI::App* find_section(const CLI::App& app, const std::string& section) {
  const CLI::App* cur = &app;
  size_t b = 0;
  while (b <= section.size()) {
    size_t dot = section.find('.', b);
    if (dot == std::string::npos) dot = section.size();
    const std::string name = section.substr(b, dot - b);
    const CLI::App* next = nullptr;
    for (const CLI::App* sub : cur->get_subcommands([](const CLI::App*) { return true; })) {
      if (sub->get_name() == name) next = sub;
    }
    if (!next) return nullptr;
    cur = next;
    b = dot + 1;
  }
  return cur;
}

std::string names_of(const CLI::App& app) {
  std::string out;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    out += (out.empty() ? "" : ", ") + sub->get_name();
  }
  return out;
}

// The option `key` sets in `cmd` (its long name without "--", or a one-letter short name).
const CLI::Option* find_option(const CLI::App& cmd, const std::string& key) {
  for (const CLI::Option* opt : cmd.get_options()) {
    for (const std::string& n : opt->get_lnames()) {
      if (n == key) return opt;
    }
    for (const std::string& n : opt->get_snames()) {
      if (n == key) return opt;
    }
  }
  return nullptr;
}

bool is_flag(const CLI::Option& opt) { return opt.get_expected_max() == 0; }

// Checks one scalar against the option's type name ("INT", "FLOAT", "TEXT", ...).
bool scalar_fits(const CLI::Option& opt, const TomlValue& v) {
  const std::string type = opt.get_type_name();
  if (type.compare(0, 3, "INT") == 0 || type.compare(0, 4, "UINT") == 0) return v.kind == TomlValue::kInteger;
  if (type.compare(0, 5, "FLOAT") == 0) return v.kind == TomlValue::kInteger || v.kind == TomlValue::kFloat;
  // Text (paths, names, choices): a string; a bare number is accepted as its text.
  return v.kind != TomlValue::kArray && v.kind != TomlValue::kBool;
}

void check_entry(const CLI::App& cmd, const TomlEntry& e, const std::string& path) {
  const std::string where = strfmt("%s:%d: [%s] %s", path.c_str(), e.line, e.section.c_str(), e.key.c_str());
  const CLI::Option* opt = find_option(cmd, e.key);
  if (!opt || opt->get_name() == "--help" || opt->get_positional()) {
    fail("%s: unknown key: `bend %s` has no option --%s (bend %s --help lists them)", where.c_str(),
         cmd.get_name().c_str(), e.key.c_str(), cmd.get_name().c_str());
  }
  const TomlValue& v = e.value;
  if (is_flag(*opt)) {
    if (v.kind != TomlValue::kBool) {
      fail("%s: is a flag; its value must be true or false, not %s %s", where.c_str(),
           toml_kind_name(v.kind), v.kind == TomlValue::kString ? ("\"" + v.text + "\"").c_str() : v.text.c_str());
    }
    return;
  }
  const bool many = opt->get_items_expected_max() > 1;
  if (v.kind == TomlValue::kArray) {
    if (!many) fail("%s: takes one value, not an array", where.c_str());
    for (const TomlValue& item : v.items) {
      if (!scalar_fits(*opt, item)) {
        fail("%s: array element '%s' is a %s, expected %s", where.c_str(), item.text.c_str(),
             toml_kind_name(item.kind), opt->get_type_name().c_str());
      }
    }
    return;
  }
  if (!scalar_fits(*opt, v)) {
    fail("%s: value %s is a %s, expected %s", where.c_str(),
         v.kind == TomlValue::kString ? ("\"" + v.text + "\"").c_str() : v.text.c_str(),
         toml_kind_name(v.kind), opt->get_type_name().c_str());
  }
}

void check_job_file(const CLI::App& app, const std::string& path) {
  const std::string text = read_file(path);  // refuses FIFOs and directories
  for (const TomlEntry& e : parse_job_toml(text, path)) {
    if (e.section.empty()) {
      fail("%s:%d: key '%s' is outside any section: job files put options under [embed], "
           "[train], ... (the subcommand they are for)", path.c_str(), e.line, e.key.c_str());
    }
    const CLI::App* cmd = find_section(app, e.section);
    if (!cmd) {
      fail("%s:%d: unknown section [%s]: sections name bend subcommands (%s)", path.c_str(), e.section_line,
           e.section.c_str(), names_of(app).c_str());
    }
    check_entry(*cmd, e, path);
  }
}

}  // namespace

void check_job_file_args(const CLI::App& app, int argc, char** argv) {
  const CLI::App* cur = &app;  // the subcommand the arguments have reached
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) break;
    for (const CLI::App* sub : cur->get_subcommands([](const CLI::App*) { return true; })) {
      if (sub->get_name() == argv[i]) cur = sub;
    }
    const bool config = std::strcmp(argv[i], "--config") == 0 || std::strncmp(argv[i], "--config=", 9) == 0;
    // A subcommand's own --config (`bend model init --config config.json`) is not a job file.
    if (!config || (cur != &app && find_option(*cur, "config"))) continue;
    const char* path = argv[i][8] == '=' ? argv[i] + 9 : (i + 1 < argc ? argv[i + 1] : nullptr);
    // A --config that cannot be read is left to CLI11's parse: a usage error (exit 2) naming the
    // command; a file it can read is checked here, its content errors naming file:line (exit 1).
    if (path != nullptr && ::access(path, R_OK) == 0) check_job_file(app, path);
  }
}

}  // namespace bend
