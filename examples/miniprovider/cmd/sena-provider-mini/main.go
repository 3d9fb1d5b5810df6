// Command sena-provider-mini serves the minimal example provider as a plugin.
package main

import (
	"github.com/sena-labs/sena/examples/miniprovider"
	"github.com/sena-labs/sena/plugin"
)

func main() { plugin.Serve(miniprovider.New) }
