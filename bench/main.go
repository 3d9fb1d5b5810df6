// Command sena-bench measures Sena on this machine against the baselines a
// user would pick instead, each in the same run, interleaved so that load
// from elsewhere hits both alike, and prints Markdown tables of medians, p95
// and ratios. Run it from the repository root:
//
//	go run ./bench -runs 10
//
// It is not part of the test suite. Everything it starts (sessions, servers,
// kernels, a local Hub) is stopped and its temp dirs removed when it ends,
// also on Ctrl-C. docs/benchmarks.md has the results and what each
// benchmark compares.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

//go:embed pyclient.py
var pyclient []byte

// config is what the flags set.
type config struct {
	runs     int
	only     map[string]bool
	python   string // as a user passes --python
	resolved string // the interpreter it resolves to (no pyenv shim)
	sessions int
	streamMB int
	shards   int
	shardMiB int
	rttIters int
	verbose  bool
}

// harness is one run: its config, its temp dir, its tag and the sena CLI.
type harness struct {
	config
	tmp    string // removed at the end
	tag    string // prefix of every tagVar value it sets
	script string // pyclient.py, written into tmp
	sena   *senaCLI
	rows   []*row
}

var benchmarks = []string{"up", "rtt", "stream", "download", "concurrent", "warm"}

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-child" {
		os.Exit(child(os.Args[2], os.Args[3:]))
	}
	var c config
	var only string
	flag.IntVar(&c.runs, "runs", 10, "runs of each benchmark (streams, downloads and concurrent ups scale down from it)")
	flag.StringVar(&only, "only", strings.Join(benchmarks, ","), "benchmarks to run, comma-separated: "+strings.Join(benchmarks, ","))
	flag.StringVar(&c.python, "python", "python3", "--python for sena up, as a user would pass it")
	flag.IntVar(&c.sessions, "sessions", 16, "sessions brought up at once")
	flag.IntVar(&c.streamMB, "stream-mb", 50, "MB of printed output to stream")
	flag.IntVar(&c.shards, "shards", 40, "safetensors shards in the downloaded model")
	flag.IntVar(&c.shardMiB, "shard-mib", 26, "MiB per shard")
	flag.IntVar(&c.rttIters, "rtt-iters", 100, "executions timed per client per run")
	flag.BoolVar(&c.verbose, "v", false, "print every sample as it is taken")
	flag.Parse()
	c.only = map[string]bool{}
	for _, b := range strings.Split(only, ",") {
		if !slices.Contains(benchmarks, b) {
			fmt.Fprintf(os.Stderr, "sena-bench: unknown benchmark %q (have %s)\n", b, strings.Join(benchmarks, ","))
			os.Exit(2)
		}
		c.only[b] = true
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h, err := newHarness(ctx, c)
	if err == nil {
		err = h.run(ctx)
		h.close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sena-bench:", err)
		os.Exit(1)
	}
}

// newHarness makes the temp dir, writes the Python helper and builds sena.
func newHarness(ctx context.Context, c config) (*harness, error) {
	out, err := exec.Command(c.python, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return nil, fmt.Errorf("python %s: %v", c.python, err)
	}
	c.resolved = strings.TrimSpace(string(out))
	tmp, err := os.MkdirTemp("", "sena-bench-")
	if err != nil {
		return nil, err
	}
	h := &harness{config: c, tmp: tmp, tag: fmt.Sprintf("bench-%d-%s/", os.Getpid(), randomHex(4))}
	h.script = filepath.Join(tmp, "pyclient.py")
	if err := os.WriteFile(h.script, pyclient, 0o644); err != nil {
		h.close()
		return nil, err
	}
	h.logf("building sena")
	bin, err := buildSena(ctx, tmp)
	if err != nil {
		h.close()
		return nil, err
	}
	h.sena = &senaCLI{bin: bin, stateDir: filepath.Join(tmp, "state"), python: c.python}
	return h, nil
}

// run runs the chosen benchmarks in order and prints the tables.
func (h *harness) run(ctx context.Context) error {
	steps := map[string]func(context.Context) error{
		"up": h.benchUp, "rtt": h.benchRTT, "stream": h.benchStream,
		"download": h.benchDownload, "concurrent": h.benchConcurrent, "warm": h.benchWarm,
	}
	start := time.Now()
	for _, b := range benchmarks {
		if !h.only[b] {
			continue
		}
		h.logf("== %s", b)
		if err := steps[b](ctx); err != nil {
			printTable(os.Stdout, h.rows) // what was measured before the failure
			return fmt.Errorf("%s: %w", b, err)
		}
	}
	fmt.Printf("\n%s\n\n", machine(h.resolved))
	printTable(os.Stdout, h.rows)
	fmt.Printf("\nruns: -runs %d; total %s\n", h.runs, time.Since(start).Round(time.Second))
	return nil
}

// close stops every session and process the run started and removes its files.
func (h *harness) close() {
	if h.sena != nil {
		if err := h.sena.down(); err != nil {
			h.logf("cleanup: %v", err)
		}
	}
	time.Sleep(200 * time.Millisecond) // let SIGTERMed kernels go
	if n := killTagged(h.tag); n > 0 {
		h.logf("cleanup: killed %d leftover processes", n)
	}
	_ = os.RemoveAll(h.tmp)
}

// scaled is runs/div, at least least.
func (h *harness) scaled(div, least int) int { return max(least, h.runs/div) }

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s sena-bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (h *harness) add(r *row) { h.rows = append(h.rows, r) }

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
