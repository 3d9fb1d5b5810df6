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
	Name:      "exec",
	Usage:     "run code in a session's kernel (a shell command in cli sessions); the notebook records it",
	UsageText: "sena exec SESSION_ID CODE [--timeout D] | sena exec SESSION_ID - < code.py | sena exec SESSION_ID -f code.py",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "read the code from this file"},
		&cli.DurationFlag{Name: "timeout", Usage: "interrupt the kernel after this long (e.g. 30s)"},
	},
	Action: func(c *cli.Context) error {
		id, code, err := execArgs(c)
		if err != nil {
			return err
		}
		e, err := newEnv(c)
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
		p := &outputPrinter{stdout: c.App.Writer, stderr: c.App.ErrWriter, quiet: e.json, skipError: s.IsExitStatus}
		ex, err := s.Execute(c.Context, code, &session.ExecOptions{OnEvent: p.event, Timeout: c.Duration("timeout")})
		if err != nil {
			return err
		}
		if e.json {
			if err := writeJSON(c, execOutput{
				Status: ex.Result.Status, ExecutionCount: ex.Result.ExecutionCount, CellIndex: ex.CellIndex,
				Interrupted: ex.Result.Interrupted, ExitCode: ex.ExitCode, Outputs: ex.Cell.Outputs,
			}); err != nil {
				return err
			}
		}
		switch {
		case ex.Result.Interrupted:
			return cli.Exit(fmt.Sprintf("interrupted after %s (the kernel is alive; its state is kept)", ex.Elapsed.Round(100*time.Millisecond)), 1)
		case ex.ExitCode != 0:
			return cli.Exit("", ex.ExitCode)
		}
		return nil
	},
}

func execArgs(c *cli.Context) (id, code string, err error) {
	args := c.Args().Slice()
	switch {
	case c.IsSet("file") && len(args) == 1:
		data, err := os.ReadFile(c.String("file"))
		if err != nil {
			return "", "", usageErr("--file: %v", err)
		}
		return args[0], string(data), nil
	case !c.IsSet("file") && len(args) == 2:
		if args[1] == "-" {
			data, err := io.ReadAll(c.App.Reader)
			if err != nil {
				return "", "", err
			}
			return args[0], string(data), nil
		}
		return args[0], args[1], nil
	}
	return "", "", usageErr("exec wants SESSION_ID CODE (CODE - reads stdin), or SESSION_ID -f FILE")
}

type execOutput struct {
	Status         string             `json:"status"`
	ExecutionCount int                `json:"execution_count"`
	CellIndex      int                `json:"cell_index"`
	Interrupted    bool               `json:"interrupted"`
	ExitCode       int                `json:"exit_code"`
	Outputs        []*notebook.Output `json:"outputs"`
}

// outputPrinter shows outputs as they stream: stdout and rich results on
// stdout, stderr and tracebacks on stderr.
type outputPrinter struct {
	stdout, stderr io.Writer
	quiet          bool
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
		if !isTerminal(p.stderr) {
			text = notebook.StripANSI(text)
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

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
