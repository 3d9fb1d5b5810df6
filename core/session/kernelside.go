package session

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
)

// kernelside.py holds the helpers Sena runs inside a kernel without leaving
// a trace (no cell, no history, no names in the user's namespace): variable
// listings, GPU status, model structure, package installs, kernel setup.
//
//go:embed kernelside.py
var kernelsideSource string

var kernelsideB64 = base64.StdEncoding.EncodeToString([]byte(kernelsideSource))

// resultMarker starts the line on which kernelside.py's main prints its result.
const resultMarker = "\x1eSENA-RESULT:"

// kernelsideCall is the code that runs op with args in a fresh namespace:
// one expression statement, so nothing is bound in the user's namespace.
func kernelsideCall(op string, args any) (string, error) {
	a, err := json.Marshal(args)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("(lambda __ns: (exec(__import__('base64').b64decode(%q).decode(), __ns), __ns['main'](%q, __import__('json').loads(%q), get_ipython().user_ns)))({'__name__': '__sena__'})",
		kernelsideB64, op, string(a)), nil
}

// callKernelside runs op on k silently and decodes its result into out.
// onLine, when set, sees each line the helper prints as it comes.
func callKernelside(ctx context.Context, k *kernel.Kernel, op string, args any, out any, onLine func(string)) error {
	code, err := kernelsideCall(op, args)
	if err != nil {
		return err
	}
	var stdout strings.Builder
	var pending string
	res, err := k.Execute(ctx, code, &kernel.ExecuteOptions{Silent: true, OnEvent: func(ev kernel.Event) {
		if ev.Type != "stream" {
			return
		}
		var m struct{ Name, Text string }
		if json.Unmarshal(ev.Content, &m) != nil || m.Name != "stdout" {
			return
		}
		stdout.WriteString(m.Text)
		if onLine == nil {
			return
		}
		pending += m.Text
		for {
			i := strings.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			if line := pending[:i]; !strings.HasPrefix(line, resultMarker) && line != "" {
				onLine(line)
			}
			pending = pending[i+1:]
		}
	}})
	if err != nil {
		return err
	}
	if res.Interrupted {
		return fmt.Errorf("%s was interrupted before it finished", op)
	}
	if res.Status != "ok" {
		return fmt.Errorf("%s failed in the kernel: %s: %s", op, res.EName, res.EValue)
	}
	text := stdout.String()
	i := strings.LastIndex(text, resultMarker)
	if i < 0 {
		return fmt.Errorf("%s printed no result (is stdout redirected in the kernel?)", op)
	}
	line, _, _ := strings.Cut(text[i+len(resultMarker):], "\n")
	var r struct {
		OK    json.RawMessage `json:"ok"`
		Error *string         `json:"error"`
	}
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return fmt.Errorf("%s: bad result from the kernel: %v", op, err)
	}
	if r.Error != nil {
		return core.Errorf(core.ErrInvalidConfig, "%s", *r.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(r.OK, out); err != nil {
		return fmt.Errorf("%s: bad result from the kernel: %v", op, err)
	}
	return nil
}

// IsInputError reports whether err is about the caller's input (a missing
// variable, a cell that does not exist, a path outside the work dir), as
// opposed to a failure of Sena, the transport or the kernel.
func IsInputError(err error) bool { return errors.Is(err, core.ErrInvalidConfig) }
