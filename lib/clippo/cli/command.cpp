#include "clippo/cli/command.h"

#include <fmt/core.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>

#include "clippo/cli/log.h"

#ifndef CLIPPO_VERSION
#define CLIPPO_VERSION "0"
#endif

namespace clippo::cli {

Command::Command(std::string name, std::string usage, std::string about, unsigned common,
                 const std::map<std::string, std::string>& shared_help)
    : name_(std::move(name)), usage_(std::move(usage)), about_(std::move(about)), common_(common) {
  auto described = [&](const char* name, const char* text) {
    auto it = shared_help.find(name);
    return it == shared_help.end() ? text : it->second.c_str();
  };
  auto add = shared_.add_options();
  add("help,h", "show this help and exit");
  add("version", "show the version and exit");
  add("quiet,q", po::bool_switch(&quiet_), "only errors on stderr, no progress bar");
  add("verbose,v", po::value<int>(&verbose_)->implicit_value(1)->zero_tokens(), "more detail on stderr");
  if (common_ & kOutput) add("output,o", po::value(&output)->default_value("-")->value_name("FILE"), described("output", "output file, '-' for stdout"));
  if (common_ & kThreads) add("threads", po::value(&threads)->default_value(0)->value_name("N"), "worker threads (0 = all the cores this process may run on)");
  if (common_ & kOnError)
    add("on-error", po::value<std::string>()->default_value("skip")->value_name("skip|fail"),
        "bad input items: skip (report, count, go on) or fail (stop)");
  if (common_ & kDevice) add("device", po::value(&device)->default_value("cpu")->value_name("cpu|cuda"), "cpu or cuda");
  if (common_ & kJson) add("json", po::bool_switch(&json), described("json", "JSON lines instead of TSV"));
  if (common_ & kShards) {
    add("shard-size", po::value(&shard_size)->default_value(0)->value_name("N"),
        "records per output shard (0: one shard, or spread evenly over a -o 'x-{0..7}' list)");
    add("compression", po::value(&compression)->default_value("zstd:3")->value_name("KIND"),
        "output shards: zstd[:LEVEL], gzip[:LEVEL] or none");
  }
}

std::string Command::help() const {
  std::ostringstream out;
  out << "Usage: " << name_ << " " << usage_ << "\n\n" << about_ << "\n\n";
  if (!own_.options().empty()) out << own_ << "\n";
  out << shared_;
  return out.str();
}

// Results written to stdout that did not all get there (a full disk,
// /dev/full) are an error: exit 0 would pass a cut-short file on.
static int checked_stdout(int status) {
  errno = 0;  // why, where the failed write is this last one
  std::cout.flush();
  const bool failed = !std::cout.good() || std::fflush(stdout) != 0 || std::ferror(stdout);
  if (!failed) return status;
  log::error(fmt::format("<stdout>: write failed{}", errno ? fmt::format(": {}", std::strerror(errno)) : ""));
  return status == 0 ? 1 : status;
}

po::variables_map Command::parse(int argc, char** argv) {
  po::options_description all;
  all.add(own_).add(shared_).add(hidden_);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional_).run(), vm);
    if (vm.count("help")) {
      std::cout << help();
      std::exit(checked_stdout(0));
    }
    if (vm.count("version")) {
      std::cout << name_ << " " << CLIPPO_VERSION << "\n";
      if (version_details) std::cout << version_details();
      std::exit(checked_stdout(0));
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + " (see --help)");
  }
  if (quiet_ && verbose_) throw UsageError("give -q (less on stderr) or -v (more), not both");
  log::set_level(quiet_ ? log::kErrors : log::kNormal + verbose_);
  if (common_ & kOnError) {
    auto v = vm["on-error"].as<std::string>();
    if (v == "skip") on_error = OnError::skip;
    else if (v == "fail") on_error = OnError::fail;
    else throw UsageError("--on-error must be skip or fail, not '" + v + "'");
  }
  if (common_ & kThreads) {
    if (threads < 0) throw UsageError("--threads must be >= 0");
    if (threads > kMaxThreads) throw UsageError(fmt::format("--threads {}: at most {}", threads, kMaxThreads));
    threads = resolve_threads(threads);
  }
  if ((common_ & kShards) && shard_size < 0) throw UsageError(fmt::format("--shard-size {}: must be >= 0", shard_size));
  if ((common_ & kDevice) && device != "cpu" && device != "cuda")
    throw UsageError("--device must be cpu or cuda, not '" + device + "'");
  return vm;
}

// "PATH: cannot create directories: File exists", where the library's text
// reads "filesystem error: cannot create directories: File exists [PATH]".
static std::string describe(const std::filesystem::filesystem_error& e) {
  std::string what = e.what();
  if (what.starts_with("filesystem error: ")) what.erase(0, 18);
  for (const auto& p : {e.path2(), e.path1()})
    if (const std::string tail = " [" + p.string() + "]"; !p.empty() && what.ends_with(tail))
      what.erase(what.size() - tail.size());
  if (e.path1().empty()) return what;
  return e.path1().string() + ": " + what + (e.path2().empty() ? "" : " (" + e.path2().string() + ")");
}

int run(const char* name, const std::function<int()>& body) {
  log::set_program(name);
  try {
    return checked_stdout(body());
  } catch (const UsageError& e) {
    log::error(e.what());
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    log::error(describe(e));
    return 1;
  } catch (const std::exception& e) {
    log::error(e.what());
    return 1;
  }
}

int usable_cores() {
  // The affinity mask (taskset, a cpuset, Slurm's binding) where there is one.
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    if (const int n = CPU_COUNT(&set); n > 0) return n;
  const unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

int resolve_threads(int requested) { return requested > 0 ? requested : usable_cores(); }

void refuse_binary_to_terminal(const std::string& output) {
  if (output == "-" && isatty(STDOUT_FILENO))
    throw UsageError("refusing to write a binary shard to a terminal; redirect stdout or use -o FILE");
}

}  // namespace clippo::cli
