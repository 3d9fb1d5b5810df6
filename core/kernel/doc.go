// Package kernel is Sena's one Jupyter client: the Jupyter Server REST API
// (kernels, sessions, contents) and the kernel websocket, in both the
// v1.kernel.websocket.jupyter.org and the legacy JSON protocol. Every
// provider returns a Jupyter endpoint; this package drives it.
//
// A Server is the REST side; Server.Connect opens a Kernel, whose Execute
// runs code and streams its outputs. A Python exception is a result
// (ExecuteResult.Status "error"); Go errors mean the transport, the server
// or the kernel failed, and wrap one of the Err* sentinels.
package kernel
