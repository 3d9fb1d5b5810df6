// Command sena brings up sandboxes with a GPU, models and a live Jupyter
// kernel, runs code in them, and records every step in a notebook.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sena-labs/sena/core"
	"github.com/urfave/cli/v2"
)

func main() {
	// Ctrl-C, a kill and a closed terminal (SIGHUP) cancel the context:
	// `up` then tears down what it started instead of leaving it billing.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	app := newApp()
	err := app.RunContext(ctx, interspersed(app, os.Args))
	stop()
	os.Exit(exitCode(err))
}

// Exit codes: 0 success, 1 failure (or code that raised), 2 usage errors
// and configs the provider cannot honour.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "sena:", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "sena:", err)
	if errors.Is(err, core.ErrInvalidConfig) || errors.Is(err, core.ErrUnsupported) || errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

var errUsage = errors.New("usage")

// usageErr reports a usage mistake (exit code 2).
func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}
