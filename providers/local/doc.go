// Package local runs Sena sandboxes as plain processes on the host: a
// jupyter_server started with the user's own Python (--python) or with a
// virtual environment Sena builds and caches.
//
// # Not a security boundary
//
// A local sandbox is the host. Code in its kernels runs as the user who ran
// Sena, with that user's files, network, credentials and GPUs. Use it for
// your own experiments and for offline CPU testing; use the docker or modal
// provider when the code should not be trusted with the host.
//
// # Finding sandboxes again
//
// The provider keeps no state. The server runs in its own session and process
// group, so it outlives the sena command that started it. Its Handle holds the
// server's pid, the process start time read from /proc/PID/stat (so a reused
// pid is never mistaken for the server), its port and work dir. List finds
// sandboxes from the OS process table: Create sets SENA_LABELS (the labels as
// JSON) in the server's environment, and List reads that one variable from
// /proc/PID/environ.
//
// # What the spec means here
//
//   - Python: Spec.Python names an interpreter that must already have
//     jupyter_server and ipykernel. Without it, Sena builds a virtual
//     environment with them (see the cache below). With Spec.PythonPackages,
//     the packages go into a cached virtual environment; when Spec.Python is
//     also set it is built from that interpreter with --system-site-packages.
//     Environments are cached under $SENA_CACHE_DIR, $XDG_CACHE_HOME/sena or
//     ~/.cache/sena, in venvs/<hash of interpreter and packages>, and built
//     with uv when it is on PATH, else with `python -m venv` and pip.
//     PIP_INDEX_URL, PIP_FIND_LINKS and PIP_NO_INDEX are honoured by both, so
//     a folder of wheels works offline.
//   - GPU: the host's GPUs as nvidia-smi reports them; the sandbox sees the
//     chosen ones through CUDA_VISIBLE_DEVICES. $SENA_NVIDIA_SMI replaces the
//     nvidia-smi command.
//   - Mounts: the sandbox already sees every host path. A mount with a
//     relative Target becomes a symlink WorkDir/Target -> Source. An absolute
//     Target is accepted only when it is the Source itself (nothing to do);
//     the provider cannot place host paths elsewhere. ReadOnly is not
//     enforced.
//   - Env: the server and its kernels get a minimal environment (hostEnv:
//     PATH, HOME, the locale, proxies and CA bundles, pip's index settings,
//     what Python and CUDA need; never the shell's other variables, which
//     hold credentials), plus Spec.Env (the config's env and secrets), plus
//     JUPYTER_TOKEN.
//   - Timeout: the server runs under coreutils timeout, so the limit holds
//     even when no sena process is running (0: no limit). IdleTimeout is
//     jupyter_server's own shutdown_no_activity_timeout.
//   - Files are written under the work dir before the server starts; paths
//     must be relative and stay inside it.
//   - CPUs: the server runs under taskset on the first N CPUs this process
//     may use, so the kernel's os.sched_getaffinity shows N; fractions are
//     refused. MemoryMiB, Image, SystemPackages and read-only mounts are
//     refused (ErrUnsupported): use the docker provider.
//
// The server's stdout and stderr go to WORKDIR/.sena/jupyter.log, and its
// Jupyter runtime files (which hold the token and kernel keys) to
// WORKDIR/.sena/runtime, which Destroy removes. The token reaches the server
// only through its environment (JUPYTER_TOKEN); jupyter_server masks it in
// its log.
package local
