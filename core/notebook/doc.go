// Package notebook is the nbformat 4.5 model Sena writes for every session.
//
// A Notebook is built by appending cells and feeding each code cell the
// kernel's iopub messages through Apply, the output accumulator that follows
// the rules JupyterLab uses. Marshal writes the same bytes Python's
// nbformat.write would, so a notebook diffs cleanly after Jupyter saves it,
// and every notebook written validates against the nbformat 4.5 schema.
//
// A Notebook is not safe for concurrent use; the session that owns it
// serializes access.
package notebook
