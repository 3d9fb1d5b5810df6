// Command sena-provider-modal is the Modal provider as a go-plugin binary.
package main

import (
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/providers/modal"
)

func main() { plugin.Serve(modal.New) }
