// Command sena brings up sandboxes with a GPU, models and a live Jupyter
// kernel, runs code in them, and records every step in a notebook.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sync/atomic"
	"syscall"

	"github.com/sena-labs/sena/core"
	"github.com/urfave/cli/v2"
)

// Exit codes, as docs/cli.md documents them.
const (
	exitOK        = 0   // the command did what it was asked
	exitFailed    = 1   // the code raised, or a step on the backend failed
	exitUsage     = 2   // a usage mistake, or a config the provider cannot honour
	exitHangup    = 129 // SIGHUP (the terminal closed); what was being started is torn down
	exitInterrupt = 130 // Ctrl-C (SIGINT), likewise
	exitTerm      = 143 // SIGTERM, likewise
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	// Ctrl-C, a kill and a closed terminal (SIGHUP) cancel the context:
	// `up` then tears down what it started instead of leaving it billing,
	// `exec` interrupts the kernel.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got atomic.Value
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		s := <-sigs
		got.Store(s)
		cancel()
		<-sigs // a second Ctrl-C does not wait for the teardown
		endProgress()
		fmt.Fprintln(stderr, "sena: interrupted again: exiting before cleanup finished (`sena gc` removes what is left)")
		os.Exit(exitInterrupt)
	}()

	app := newApp()
	app.Writer, app.ErrWriter = stdout, stderr
	out := &trackingWriter{w: stdout}
	app.Writer = out
	norm, err := normalize(app, args)
	if err == nil {
		err = app.RunContext(ctx, norm)
	} else {
		norm = args
	}
	endProgress()
	if errors.Is(err, errDryRun) {
		return exitOK
	}
	code := exitCode(err)
	if s, ok := got.Load().(os.Signal); ok && err != nil {
		code = map[os.Signal]int{syscall.SIGTERM: exitTerm, syscall.SIGHUP: exitHangup}[s]
		if code == 0 {
			code = exitInterrupt
		}
		err = fmt.Errorf("interrupted: %w", err)
	}
	report(err, code, wantsJSON(norm) && !out.wrote, stdout, stderr)
	return code
}

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int {
	var ec cli.ExitCoder
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ec):
		return ec.ExitCode()
	case errors.Is(err, errUsage), errors.Is(err, core.ErrInvalidConfig), errors.Is(err, core.ErrUnsupported):
		return exitUsage
	}
	return exitFailed
}

// report prints err on stderr and, with --json when the command printed
// nothing, as a JSON object on stdout, so stdout always parses.
func report(err error, code int, asJSON bool, stdout, stderr io.Writer) {
	if err == nil {
		return
	}
	msg := err.Error()
	if msg != "" {
		fmt.Fprintln(stderr, "sena:", msg)
	}
	if asJSON {
		if msg == "" {
			msg = fmt.Sprintf("exit status %d", code)
		}
		_ = encodeJSON(stdout, errorOutput{Error: errorBody{Message: msg, Kind: errorKind(err, code), ExitCode: code}})
	}
}

type errorOutput struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Message  string `json:"message"`
	Kind     string `json:"kind"`
	ExitCode int    `json:"exit_code"`
}

// errorKind names the class of an error for programs: usage, invalid_config,
// unsupported, not_found, unavailable, interrupted or failed.
func errorKind(err error, code int) string {
	switch {
	case code == exitInterrupt || code == exitTerm || code == exitHangup:
		return "interrupted"
	case errors.Is(err, errUsage):
		return "usage"
	case errors.Is(err, core.ErrUnsupported):
		return "unsupported"
	case errors.Is(err, core.ErrInvalidConfig):
		return "invalid_config"
	case errors.Is(err, core.ErrNotFound):
		return "not_found"
	case errors.Is(err, core.ErrUnavailable):
		return "unavailable"
	}
	return "failed"
}

// wantsJSON reports whether the global --json was given (normalize puts
// global flags before the command).
func wantsJSON(args []string) bool {
	i := slices.Index(args, "--")
	if i < 0 {
		i = len(args)
	}
	for _, a := range args[min(1, len(args)):i] {
		switch a {
		case "--json", "-json", "--json=true", "-json=true":
			return true
		}
	}
	return false
}

var errUsage = errors.New("usage")

// usageErr reports a usage mistake (exit code 2).
func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// trackingWriter notes whether anything was written to stdout.
type trackingWriter struct {
	w     io.Writer
	wrote bool
}

func (t *trackingWriter) Write(p []byte) (int, error) {
	t.wrote = t.wrote || len(p) > 0
	return t.w.Write(p)
}
