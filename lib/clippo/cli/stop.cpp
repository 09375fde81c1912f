#include "clippo/cli/stop.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace clippo::cli {
namespace {

std::atomic<int> g_stop{0};
std::atomic<bool> g_stop_reading{false};
bool g_second_kills = false;  // set before the handler is installed
std::atomic<bool> g_at_once{false};
char g_at_once_message[512];  // written only while g_at_once is false

extern "C" void on_stop_signal(int sig) {
  if (g_at_once) {  // only async-signal-safe calls here
    (void)!write(STDERR_FILENO, g_at_once_message, strlen(g_at_once_message));
    _exit(128 + sig);
  }
  int none = 0;
  g_stop.compare_exchange_strong(none, sig);  // the first one says why (the exit status)
  // A closed terminal sends SIGHUP twice (the shell passes it on, then the
  // kernel as the shell exits), and with stderr gone each message raises
  // SIGPIPE: neither may end the saving. A second SIGINT or SIGTERM is a
  // person insisting.
  if (sig == SIGPIPE || sig == SIGHUP) std::signal(sig, SIG_IGN);
  else if (g_second_kills) std::signal(sig, SIG_DFL);
}

}  // namespace

void catch_stop_signals(unsigned how) {
  g_second_kills = how & kSecondSignalKills;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // reads of pipes poll reading_stopped() instead (io/input_bytes)
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (how & kHangupStops)
    for (int sig : {SIGHUP, SIGPIPE}) {
      struct sigaction old {};
      if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler != SIG_IGN) sigaction(sig, &sa, nullptr);
    }
}

StopAtOnce::StopAtOnce(const char* program, const char* why) {
  g_at_once = false;
  std::snprintf(g_at_once_message, sizeof g_at_once_message, "%s: stopped by signal %s\n", program, why);
  g_at_once = true;
  if (const int sig = g_stop) on_stop_signal(sig);
}

void StopAtOnce::end() { g_at_once = false; }

int stop_signal() { return g_stop; }

void stop_reading(bool stop) { g_stop_reading = stop; }

bool reading_stopped() { return g_stop != 0 || g_stop_reading; }

}  // namespace clippo::cli
