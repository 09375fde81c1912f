// Stop signals, each case in a child process (a caught signal would stop
// every later test's reads here): raise() delivers at once, so the order of
// signals is exact.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <functional>

#include "clippo/cli/stop.h"

namespace {

// How a child that runs `body` and exits with its result ended: its exit
// status, or 128 + the signal that killed it.
int in_child(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

using namespace clippo::cli;

TEST_CASE("stop signals: SIGHUP twice (a closing terminal) asks to stop once and never kills") {
  CHECK(in_child([] {
          catch_stop_signals(kSecondSignalKills | kHangupStops);
          std::raise(SIGHUP);
          std::raise(SIGHUP);
          std::raise(SIGPIPE);
          std::raise(SIGPIPE);
          return stop_signal() == SIGHUP ? 0 : 1;  // the first signal says why
        }) == 0);
}

TEST_CASE("stop signals: a second SIGINT kills; the first only asks") {
  CHECK(in_child([] {
          catch_stop_signals(kSecondSignalKills);
          std::raise(SIGINT);
          if (stop_signal() != SIGINT) return 1;
          std::raise(SIGINT);
          return 2;  // not reached
        }) == 128 + SIGINT);
}

TEST_CASE("stop signals: SIGHUP ignored at start (nohup) stays ignored") {
  CHECK(in_child([] {
          std::signal(SIGHUP, SIG_IGN);
          catch_stop_signals(kSecondSignalKills | kHangupStops);
          std::raise(SIGHUP);
          return stop_signal();
        }) == 0);
}

TEST_CASE("stop signals: at once during start-up, asked for after it") {
  // During: the signal ends the process with its status.
  CHECK(in_child([] {
          catch_stop_signals(kSecondSignalKills);
          StopAtOnce starting("tool", "before work");
          std::raise(SIGTERM);
          return 1;  // not reached
        }) == 128 + SIGTERM);
  // One that came before start-up began ends it as it begins.
  CHECK(in_child([] {
          catch_stop_signals(kSecondSignalKills);
          std::raise(SIGINT);
          StopAtOnce starting("tool", "before work");
          return 1;
        }) == 128 + SIGINT);
  // After: the first signal only asks again.
  CHECK(in_child([] {
          catch_stop_signals(kSecondSignalKills);
          StopAtOnce starting("tool", "before work");
          starting.end();
          std::raise(SIGINT);
          return stop_signal() == SIGINT ? 0 : 1;
        }) == 0);
}
