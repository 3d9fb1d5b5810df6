package main

import (
	"fmt"
	"os"
)

// child runs one of the harness's helper modes in a process of its own:
// "hub" serves the benchmark model, "stream" is Sena's client receiving a
// large output (alone in its process, so its peak RSS is its own).
func child(mode string, args []string) int {
	var err error
	switch mode {
	case "hub":
		err = serveHub(args)
	case "stream":
		err = streamClient(args)
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sena-bench child:", err)
		return 1
	}
	return 0
}
