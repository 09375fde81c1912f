// The command-line setup every tool shares: common options, help layout,
// usage errors, and the exit-code contract (0 ok, 1 runtime error, 2 usage).
#pragma once
#include <boost/program_options.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "clippo/cli/error.h"

namespace clippo::cli {

namespace po = boost::program_options;

// Options most tools share; a tool asks for the ones it has.
enum Common : unsigned {
  kOutput = 1u << 0,    // -o/--output
  kThreads = 1u << 1,   // --threads
  kOnError = 1u << 2,   // --on-error skip|fail
  kDevice = 1u << 3,    // --device cpu|cuda
  kJson = 1u << 4,      // --json
  kShards = 1u << 5,    // --shard-size, --compression (tools that write shards)
};

class Command {
 public:
  // usage: the synopsis after the program name; about: one paragraph;
  // shared_help: a tool's own --help text for shared options (by long name)
  // whose meaning it narrows, e.g. {"output", "the index directory"}.
  Command(std::string name, std::string usage, std::string about, unsigned common,
          const std::map<std::string, std::string>& shared_help = {});

  po::options_description& options() { return own_; }
  // Parsed but not listed in --help (the positional arguments' target).
  po::options_description& hidden() { return hidden_; }
  // Positional arguments go to `name` (max_count -1 = any number).
  void positional(const std::string& name, int max_count = -1) { positional_.add(name.c_str(), max_count); }

  // Parses argv. Prints help/version and exits 0 for -h/--version; throws
  // UsageError for a bad command line. Sets log level and the thread count.
  po::variables_map parse(int argc, char** argv);

  std::string help() const;

  // Lines --version prints after the version (e.g. the libtorch and its
  // devices); called only for --version.
  std::function<std::string()> version_details;

  // Values of the common options after parse().
  std::string output = "-";
  int threads = 0;  // 0 = all cores
  OnError on_error = OnError::skip;
  std::string device = "cpu";
  bool json = false;
  int64_t shard_size = 0;              // 0: one shard, or round-robin over a {a..b} list
  std::string compression = "zstd:3";  // see Compression::parse

 private:
  std::string name_, usage_, about_;
  unsigned common_;
  po::options_description own_{"Options"}, shared_{"Common options"}, hidden_;
  po::positional_options_description positional_;
  int verbose_ = 0;
  bool quiet_ = false;
};

// Runs a tool's body: sets the program name for messages, turns exceptions
// into "NAME: error: ..." and the exit code.
int run(const char* name, const std::function<int()>& body);

// A bound on --threads that only a typo passes (each is a thread started).
constexpr int kMaxThreads = 4096;

// The cores this process may run on (its affinity: taskset, a cpuset,
// Slurm's binding), else the machine's.
int usable_cores();
// Number of worker threads for --threads N (0 = usable_cores()).
int resolve_threads(int requested);

// Refuses to write binary data to a terminal (a usage error naming what to do).
void refuse_binary_to_terminal(const std::string& output);

}  // namespace clippo::cli
