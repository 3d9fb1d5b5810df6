package nbtest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
)

// workerScript answers one JSON request per line on stdin with one JSON line
// on stdout: {"error": ""} on success, else the reason.
const workerScript = `
import json, sys, warnings
import nbformat

def validate(path):
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    v = (d.get("nbformat"), d.get("nbformat_minor"))
    if v != (4, 5):
        raise ValueError("nbformat %r.%r, want 4.5" % v)
    ids = [c.get("id") for c in d.get("cells", [])]
    dups = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    if dups:
        raise ValueError("duplicate cell ids: %r" % dups)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # MissingIDFieldWarning and friends
        nbformat.validate(nbformat.from_dict(d), version=4, version_minor=5)

def rewrite(src, dst):
    nbformat.write(nbformat.read(src, 4), dst)

for line in sys.stdin:
    req = json.loads(line)
    try:
        if req["op"] == "validate":
            validate(req["a"])
        else:
            rewrite(req["a"], req["b"])
        err = ""
    except Exception as e:
        err = "%s: %s" % (type(e).__name__, e)
    print(json.dumps({"error": err}), flush=True)
`

type worker struct {
	mu  sync.Mutex
	in  io.Writer
	out *bufio.Reader
	err error // the worker could not start, or died
}

var (
	workersMu sync.Mutex
	workers   = map[string]*worker{}
)

// call runs one request on python's worker, starting it on first use. The
// worker lives as long as the test binary; it exits when stdin closes.
func call(python, op, a, b string) error {
	workersMu.Lock()
	w := workers[python]
	if w == nil {
		w = startWorker(python)
		workers[python] = w
	}
	workersMu.Unlock()

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	req, _ := json.Marshal(map[string]string{"op": op, "a": a, "b": b})
	var resp struct{ Error string }
	if _, err := w.in.Write(append(req, '\n')); err != nil {
		w.err = fmt.Errorf("nbformat worker %s died: %w", python, err)
		return w.err
	}
	line, err := w.out.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &resp)
	}
	if err != nil {
		w.err = fmt.Errorf("nbformat worker %s died: %v (output %q)", python, err, line)
		return w.err
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	return nil
}

func startWorker(python string) *worker {
	cmd := exec.Command(python, "-c", workerScript)
	cmd.Stderr = os.Stderr // nbformat logs there; stdout carries the protocol
	in, err := cmd.StdinPipe()
	if err != nil {
		return &worker{err: err}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return &worker{err: err}
	}
	if err := cmd.Start(); err != nil {
		return &worker{err: fmt.Errorf("starting %s: %w", python, err)}
	}
	return &worker{in: in, out: bufio.NewReader(out)}
}
