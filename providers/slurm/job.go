package slurm

import (
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sena-labs/sena/core"
)

// A job's directory on the shared filesystem, SHARED_DIR/jobs/SESSION:
//
//	sena-job     marker: Destroy removes only directories that have it
//	token        the Jupyter token, 0600; the job reads it into JUPYTER_TOKEN
//	env          the sandbox's variables (secrets among them), 0600, NUL-separated;
//	             the job reads and deletes it before Jupyter starts
//	job.sh       the batch script
//	job.log      the job's output (sbatch --output)
//	jupyter.log  the server's output
//	work/        Jupyter's root and the job's working directory (Spec.Files)
//	endpoint     "NODE PORT", written by the job once Jupyter listens
//	ended        why Jupyter stopped, written by the job: timeout, idle, exit N
//	tunnel       "HOST PID LOCALPORT" of the SSH tunnel process, when there is one
const (
	markerFile   = "sena-job"
	tokenFile    = "token"
	envFile      = "env"
	scriptFile   = "job.sh"
	logFile      = "job.log"
	jupyterLog   = "jupyter.log"
	workDir      = "work"
	endpointFile = "endpoint"
	endedFile    = "ended"
	tunnelFile   = "tunnel"
)

// jobName is the job's name, which carries the session label: squeue
// --name finds a session's job without parsing every comment.
func jobName(session string) string { return "sena-" + session }

const commentPrefix = "sena:"

// comment carries every label in the job's comment, readable by an admin
// (sena:sena.managed=true&sena.session=s1a2b&sena.statedir=9f3e...).
func comment(labels map[string]string) string {
	v := url.Values{}
	for k, val := range labels {
		v.Set(k, val)
	}
	return commentPrefix + v.Encode()
}

// labelsOf reads the labels back from a job's comment; ok is false for a
// job Sena did not start.
func labelsOf(j job) (map[string]string, bool) {
	if !strings.HasPrefix(j.Name, "sena-") || !strings.HasPrefix(j.Comment, commentPrefix) {
		return nil, false
	}
	v, err := url.ParseQuery(strings.TrimPrefix(j.Comment, commentPrefix))
	if err != nil {
		return nil, false
	}
	labels := map[string]string{}
	for k := range v {
		labels[k] = v.Get(k)
	}
	return labels, true
}

// sbatchArgs are the options of the job's submission, before the script.
func sbatchArgs(o *options, spec *core.SandboxSpec, session, dir, gres string, labels map[string]string) []string {
	args := []string{
		"--parsable",
		"--job-name=" + jobName(session),
		"--comment=" + comment(labels),
		"--output=" + filepath.Join(dir, logFile),
		"--chdir=" + filepath.Join(dir, workDir),
		"--nodes=1", "--ntasks=1",
		// A requeued job would start again elsewhere, where Sena does not
		// look: a preempted sandbox ends, and says so.
		"--no-requeue",
	}
	for _, o := range []struct{ flag, val string }{
		{"--partition", o.Partition}, {"--account", o.Account}, {"--qos", o.QOS},
		{"--constraint", o.Constraint}, {"--gres", gres},
	} {
		if o.val != "" {
			args = append(args, o.flag+"="+o.val)
		}
	}
	if spec.CPUs > 0 {
		args = append(args, fmt.Sprintf("--cpus-per-task=%d", int(spec.CPUs+0.999)))
	}
	if spec.MemoryMiB > 0 {
		args = append(args, fmt.Sprintf("--mem=%dM", spec.MemoryMiB))
	}
	if spec.Timeout > 0 {
		args = append(args, "--time="+timeLimit(spec.Timeout))
	}
	return append(args, o.SbatchArgs...)
}

// timeLimit is SLURM's --time for a timeout. SLURM counts whole minutes, so
// it is rounded up; the job itself stops Jupyter at the exact timeout.
func timeLimit(d time.Duration) string {
	return fmt.Sprintf("%d", int((d+time.Minute-1)/time.Minute))
}

// jupyterPort stands for the port in the launcher's arguments: the job
// picks a free port on its node, where it knows which are free.
const jupyterPort = 1

// script is the batch script: it sets the sandbox's environment, starts
// Sena's Jupyter launcher on a free port of the node, writes where it
// listens once it does, and writes why it stopped.
func script(o *options, spec *core.SandboxSpec, dir string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("#!/bin/bash")
	w("# A Sena sandbox, written by sena-provider-slurm: Jupyter on the job's node.")
	w("dir=%s", shellQuote(dir))
	w("py=%s", shellQuote(o.Python))
	w(`cd "$dir/%s" || exit 1`, workDir)
	if strings.TrimSpace(o.Setup) != "" {
		w("# the setup option")
		w("%s", o.Setup)
	}
	w(`JUPYTER_TOKEN=$(<"$dir/%s") || exit 1`, tokenFile)
	w("export JUPYTER_TOKEN")
	w(`if [[ -f $dir/%[1]s ]]; then`, envFile)
	w(`	while IFS= read -r -d '' kv; do export "$kv"; done <"$dir/%s"`, envFile)
	w(`	rm -f "$dir/%s"`, envFile)
	w("fi")
	// Kernel connection files stay on the node, off the shared filesystem.
	w(`export JUPYTER_RUNTIME_DIR=${TMPDIR:-/tmp}/sena-jupyter-$SLURM_JOB_ID`)
	w(`port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])') || {`)
	w(`	echo "sena: $py does not run on $(hostname); set the python option to a Python with jupyter_server and ipykernel" >&2; exit 1; }`)
	var argv []string
	for _, a := range core.JupyterServerCommand(core.JupyterLaunch{
		IP: "0.0.0.0", Port: jupyterPort, RootDir: filepath.Join(dir, workDir), IdleTimeout: spec.IdleTimeout,
		// Reached directly, the node is asked for by a name only the
		// cluster knows, which jupyter_server's Host check would refuse;
		// through the tunnel it is asked for at 127.0.0.1, and keeps it.
		RemoteHost: o.LoginHost == "",
	}) {
		if a == fmt.Sprintf("--ServerApp.port=%d", jupyterPort) {
			argv = append(argv, `"--ServerApp.port=$port"`)
			continue
		}
		argv = append(argv, shellQuote(a))
	}
	w(`"$py" %s >>"$dir/%s" 2>&1 &`, strings.Join(argv, " "), jupyterLog)
	w("server=$!")
	w(`trap 'kill -TERM $server 2>/dev/null' TERM INT`)
	w("for _ in $(seq 6000); do")
	w(`	if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then`)
	w(`		echo "$SLURMD_NODENAME $port" >"$dir/%[1]s.tmp" && mv "$dir/%[1]s.tmp" "$dir/%[1]s"; break`, endpointFile)
	w("	fi")
	w(`	kill -0 $server 2>/dev/null || break`)
	w("	sleep 0.1")
	w("done")
	if spec.Timeout > 0 {
		// The sandbox's lifetime runs from when it can be used; SLURM's
		// --time, from the job's start, is the backstop.
		w(`( sleep %d; echo timeout >"$dir/%s"; kill -TERM $server 2>/dev/null ) &`, int(spec.Timeout.Seconds()+0.5), endedFile)
		w("timer=$!")
	}
	w("code=0")
	w(`while :; do wait $server; code=$?; kill -0 $server 2>/dev/null || break; done`)
	if spec.Timeout > 0 {
		w("kill $timer 2>/dev/null")
	}
	w(`if [[ ! -f $dir/%s ]]; then`, endedFile)
	w(`	if grep -q "Sena: no kernel activity" "$dir/%s" 2>/dev/null; then echo idle; else echo "exit $code"; fi >"$dir/%s"`, jupyterLog, endedFile)
	w("fi")
	w(`rm -rf "$JUPYTER_RUNTIME_DIR"`)
	w("exit $code")
	return b.String()
}

// envData is the env file: KEY=VALUE entries, NUL-separated, in key order.
func envData(env map[string]string) []byte {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + env[k] + "\x00")
	}
	return []byte(b.String())
}

// shellQuote quotes s for bash.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
