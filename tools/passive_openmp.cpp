// Linked into the tools whose threads compete with OpenMP's (clippo-train,
// clippo-embed: its decode workers; B/16 bf16 embedding on 2 loaded cores
// went from 6.0 to 8.1 images per CPU-second, and faster by the clock too).
//
// OpenMP threads (libtorch's, oneDNN's) busy-wait after each parallel region
// by default, taking the cores that the decode/render workers, OpenBLAS's own
// threads and anything else on the machine need: training the quickstart's
// model ran 3x slower on 2 cores under load. libgomp reads OMP_WAIT_POLICY
// once, in its initialiser, which runs before main() and before libc lets a
// setenv() stand. So the executable's pre-initialiser, which runs after the
// libraries are mapped but before any of their initialisers (libtorch's take
// ~1 s), re-executes the program with OMP_WAIT_POLICY=PASSIVE added: ~0.05 s
// of dynamic loading again (0.3 s on a VM with costly page faults). A user's
// own setting is kept; where the program cannot be run again, nothing changes.
#include <alloca.h>
#include <unistd.h>

#include <cstring>

namespace {

void passive_openmp_wait(int, char** argv, char** envp) {
  size_t n = 0;
  for (; envp[n]; ++n)
    if (std::strncmp(envp[n], "OMP_WAIT_POLICY=", 16) == 0) return;
  auto env = static_cast<char**>(alloca((n + 2) * sizeof(char*)));
  std::memcpy(env, envp, n * sizeof(char*));
  env[n] = const_cast<char*>("OMP_WAIT_POLICY=PASSIVE");
  env[n + 1] = nullptr;
  // By its real path, so the process keeps its name (ps, pgrep, killall)
  // instead of becoming "exe".
  char path[4096];
  const ssize_t len = readlink("/proc/self/exe", path, sizeof path - 1);
  if (len > 0) {
    path[len] = '\0';
    execve(path, argv, env);
  }
  execve("/proc/self/exe", argv, env);
}

}  // namespace

__attribute__((section(".preinit_array"), used)) static void (*const clippo_preinit)(int, char**, char**) =
    passive_openmp_wait;
