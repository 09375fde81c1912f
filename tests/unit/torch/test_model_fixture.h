// Reference data for the model tests: tests/ref/model_ref.py run once per
// process with Debian's python3 (numpy) into a temporary directory.
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

// torch pulls in glog, whose CHECK would shadow Catch's: include torch
// first, drop glog's CHECK, then Catch.
#include <torch/torch.h>
#undef CHECK
#include <catch2/catch.hpp>

namespace clippo::test {

inline std::string model_ref_script() { return std::string(CLIPPO_TEST_REF) + "/model_ref.py"; }

// Debian's python3 (with numpy), or $CLIPPO_PYTHON (a GPU machine's).
inline std::string python() {
  const char* p = std::getenv("CLIPPO_PYTHON");
  return p && *p ? p : "/usr/bin/python3";
}

inline int run_python(const std::string& args) {
  std::string cmd = python() + " " + model_ref_script() + " " + args;
  return std::system(cmd.c_str());
}

inline const std::string& model_ref_dir() {
  static const std::string dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("clippo-model-ref-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    if (run_python("gen " + d.string()) != 0) FAIL("tests/ref/model_ref.py gen failed (needs python3 with numpy)");
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::temp_directory_path() /
                                      ("clippo-model-ref-" + std::to_string(::getpid())),
                                  ec);
    });
    return d.string();
  }();
  return dir;
}

}  // namespace clippo::test
