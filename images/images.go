// Package images holds Sena's sandbox image recipe, so every container
// provider builds the same steps: Docker builds the file itself, Modal
// replays its commands on a registry base.
package images

import _ "embed"

// JupyterCUDA is the text of Dockerfile.jupyter-cuda: Python 3.12 in a
// virtual environment with JupyterLab, jupyter_server, ipykernel, numpy and
// torch (pinned to the CUDA of its base, CUDA 12.8 by default), run as the
// non-root user sena. Build arguments: BASE_IMAGE, TORCH, PYTHON_PACKAGES,
// and pip's index and CA settings. It uses no COPY, so it builds without a
// context.
//
//go:embed Dockerfile.jupyter-cuda
var JupyterCUDA string
