//go:build !unix

package plugin

import "os/exec"

// Process groups are a Unix notion; elsewhere only the plugin itself is killed.
func ownProcessGroup(*exec.Cmd) {}

func killProcessGroup(int) {}
