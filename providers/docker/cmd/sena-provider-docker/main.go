// Command sena-provider-docker serves the Docker provider as a Sena plugin.
package main

import (
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/providers/docker"
)

func main() { plugin.Serve(docker.New) }
