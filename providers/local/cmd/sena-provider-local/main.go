// Command sena-provider-local serves the local provider as a go-plugin binary.
package main

import (
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/providers/local"
)

func main() { plugin.Serve(local.New) }
