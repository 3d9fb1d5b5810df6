// Package images holds Sena's sandbox image recipe, so every container
// provider builds the same steps: Docker builds the file itself, Modal
// replays its commands on a registry base.
package images

import _ "embed"

// JupyterCUDA is the text of Dockerfile.jupyter-cuda: Python 3,
// jupyter_server, ipykernel and numpy on the image named by the BASE_IMAGE
// build argument (an NVIDIA CUDA runtime by default). It uses no COPY, so it
// builds without a context.
//
//go:embed Dockerfile.jupyter-cuda
var JupyterCUDA string
