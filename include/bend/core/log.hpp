// Logging, timing and resource reporting shared by every command. Thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace bend {

// Sets the rank shown in log prefixes ("[bend r1]"); -1 hides it (single-process commands).
void set_log_rank(int rank);
// Prints one line to stderr with the "[bend rN hh:mm:ss]" prefix. printf-style.
void log_info(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Monotonic wall clock in seconds.
double wall_seconds();
// Process CPU time (user + system) in seconds.
double cpu_seconds();
// Peak resident set size of this process image in bytes (VmHWM; not inherited from a parent).
int64_t peak_rss_bytes();

// "1.5 GiB", "312 KiB", "17 B".
std::string human_bytes(double n_bytes);
// "1.23M", "45.6k", "789".
std::string human_count(double n);
// "1h02m", "3m05s", "12s".
std::string human_duration(double seconds);

}  // namespace bend
