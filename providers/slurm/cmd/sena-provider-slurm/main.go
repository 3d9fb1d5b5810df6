// Command sena-provider-slurm is Sena's SLURM provider, as a plugin: put it
// in a plugin directory and run `sena --provider slurm up`.
package main

import (
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/providers/slurm"
)

func main() {
	slurm.ServeTunnel() // returns unless started as a job's SSH tunnel
	plugin.Serve(slurm.New)
}
