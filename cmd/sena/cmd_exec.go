package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/notebook"
	"github.com/sena-labs/sena/core/session"
	"github.com/urfave/cli/v2"
)

var execCommand = &cli.Command{
	Name:  "exec",
	Usage: "run code in a session's kernel (a shell command in cli sessions); the notebook records it",
	UsageText: "sena exec [SESSION] CODE [--timeout D]\n" +
		"sena exec [SESSION] - < code.py\n" +
		"sena exec [SESSION] -f code.py\n\n" +
		"SESSION is an id or a unique prefix of one; without it, the one running session.\n" +
		"Code that starts with - goes after --: sena exec ID -- -x\n" +
		"Exit status: 0, 1 when the code raised or was interrupted, 2 for usage errors;\n" +
		"in cli sessions the command's own.",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "read the code from this file"},
		&cli.DurationFlag{Name: "timeout", Usage: "interrupt the kernel after this long (e.g. 30s); its state is kept"},
	},
	Action: func(c *cli.Context) error {
		if d := c.Duration("timeout"); d < 0 {
			return usageErr("--timeout %s: a time to wait is not negative; write it as 30s or 5m, or leave it out to wait for the cell (see sena exec --help)", d)
		}
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		id, code, err := execArgs(c, e)
		if err != nil {
			return err
		}
		s, err := e.manager.Attach(c.Context, id)
		if err != nil {
			return err
		}
		defer s.Close()
		if n := s.Notice(c.Context); n != "" {
			fmt.Fprintln(c.App.ErrWriter, "sena: note:", n)
		}
		p := &outputPrinter{stdout: c.App.Writer, stderr: c.App.ErrWriter, quiet: e.json, skipError: s.IsExitStatus, color: useColor(c, os.Stderr)}
		ex, err := s.Execute(c.Context, code, &session.ExecOptions{OnEvent: p.event, Timeout: c.Duration("timeout")})
		if err != nil {
			return err
		}
		if e.json {
			if err := writeJSON(c, newExecOutput(s.ID, ex)); err != nil {
				return err
			}
		}
		switch {
		case ex.Result.Interrupted:
			return cli.Exit(fmt.Sprintf("interrupted after %s (the kernel is alive; its state is kept)", ex.Elapsed.Round(100*time.Millisecond)), exitFailed)
		case ex.ExitCode != 0:
			return cli.Exit("", ex.ExitCode)
		}
		return nil
	},
}

// execArgs reads [SESSION] CODE, [SESSION] -, or [SESSION] -f FILE.
func execArgs(c *cli.Context, e *env) (id, code string, err error) {
	args := c.Args().Slice()
	want := 2
	if c.IsSet("file") {
		want = 1
	}
	switch {
	case len(args) == want:
		id, args = args[0], args[1:]
	case len(args) == want-1:
		if len(args) == 1 {
			if _, err := e.manager.Store().Get(args[0]); err == nil {
				return "", "", usageErr("exec wants CODE after the session id %s (see sena exec --help)", args[0])
			}
		}
		if id, err = e.manager.OnlySession(); err != nil {
			return "", "", fmt.Errorf("exec without a session id: %w", err)
		}
	default:
		return "", "", usageErr("exec wants [SESSION] CODE (CODE - reads stdin), or [SESSION] -f FILE (see sena exec --help)")
	}
	switch {
	case c.IsSet("file"):
		data, err := os.ReadFile(c.String("file"))
		if err != nil {
			return "", "", usageErr("--file: %v", err)
		}
		return id, string(data), nil
	case args[0] == "-":
		data, err := io.ReadAll(c.App.Reader)
		if err != nil {
			return "", "", err
		}
		return id, string(data), nil
	}
	return id, args[0], nil
}

// execOutput is what `sena exec --json` prints (docs/schemas/exec.schema.json).
type execOutput struct {
	SessionID      string     `json:"session_id"`
	Status         string     `json:"status"` // ok, error or aborted
	ExecutionCount int        `json:"execution_count"`
	CellIndex      int        `json:"cell_index"`
	Interrupted    bool       `json:"interrupted"`
	ExitCode       int        `json:"exit_code"`
	Outputs        []nbOutput `json:"outputs"`
}

func newExecOutput(id string, ex *session.Execution) execOutput {
	return execOutput{
		SessionID: id, Status: ex.Result.Status, ExecutionCount: ex.Result.ExecutionCount, CellIndex: ex.CellIndex,
		Interrupted: ex.Result.Interrupted, ExitCode: ex.ExitCode, Outputs: nbOutputs(ex.Cell.Outputs),
	}
}

// outputPrinter shows outputs as they stream: stdout and rich results on
// stdout, stderr and tracebacks on stderr. Tracebacks keep IPython's
// colours only on a terminal with colours on.
type outputPrinter struct {
	stdout, stderr io.Writer
	quiet          bool
	color          bool
	skipError      func(ename string) bool
}

func (p *outputPrinter) event(ev kernel.Event) {
	if p.quiet {
		return
	}
	switch ev.Type {
	case "stream":
		var s struct{ Name, Text string }
		if json.Unmarshal(ev.Content, &s) == nil {
			w := p.stdout
			if s.Name == "stderr" {
				w = p.stderr
			}
			fmt.Fprint(w, s.Text)
		}
	case "error":
		var e struct {
			EName     string   `json:"ename"`
			EValue    string   `json:"evalue"`
			Traceback []string `json:"traceback"`
		}
		if json.Unmarshal(ev.Content, &e) != nil || p.skipError(e.EName) {
			return
		}
		text := strings.Join(e.Traceback, "\n")
		if text == "" {
			text = e.EName + ": " + e.EValue
		}
		if !p.color {
			text = plainTraceback([]string{text})
		}
		fmt.Fprintln(p.stderr, text)
	case "display_data", "execute_result":
		nb := notebook.New()
		c := nb.AddCode("")
		if nb.Apply(c, ev.Type, ev.Content) == nil && len(c.Outputs) > 0 {
			fmt.Fprintln(p.stdout, c.Outputs[0].PlainText())
		}
	}
}
