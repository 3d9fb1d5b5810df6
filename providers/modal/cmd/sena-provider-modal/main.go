// Command sena-provider-modal is the Modal provider as a go-plugin binary.
package main

import (
	"os/signal"
	"syscall"

	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/providers/modal"
)

func main() {
	// A closed terminal hangs up the whole process group. The host cancels
	// a Create in flight then, and this process must live to terminate the
	// sandbox it started (go-plugin already ignores Ctrl-C for the same reason).
	signal.Ignore(syscall.SIGHUP)
	plugin.Serve(modal.New)
}
