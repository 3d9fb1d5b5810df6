package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

var connectCommand = &cli.Command{
	Name:  "connect",
	Usage: "print how to reach a session's kernel with Jupyter's own tools (console, jupyter_client, VS Code, a browser)",
	UsageText: "sena connect [SESSION]\n\n" +
		"Where the kernel runs on this machine (the local provider), its connection file works with\n" +
		"`jupyter console --existing FILE` and jupyter_client; everywhere, the server URL and token work\n" +
		"with JupyterLab and VS Code (Existing Jupyter Server). Cells run that way share the kernel's\n" +
		"state but are not recorded in Sena's notebook.",
	Action: func(c *cli.Context) error {
		e, rec, err := sessionArg(c, "connect")
		if err != nil {
			return err
		}
		url, err := e.manager.JupyterURL(rec)
		if err != nil {
			return err
		}
		token, err := e.manager.Store().Token(rec.ID)
		if err != nil {
			return err
		}
		out := connectOutput{
			SessionID: rec.ID, JupyterURL: url, ServerURL: rec.Endpoint.URL, Token: token, KernelID: rec.KernelID,
			ConnectionFile: connectionFile(e.manager.Store().SandboxDir(rec.ID), rec.KernelID),
		}
		if e.json {
			return writeJSON(c, out)
		}
		w := c.App.Writer
		fmt.Fprintf(w, "session     %s (%s)\n", out.SessionID, rec.Provider)
		fmt.Fprintf(w, "browser     %s\n", out.JupyterURL)
		fmt.Fprintf(w, "server      %s\n", out.ServerURL)
		fmt.Fprintf(w, "token       %s\n", out.Token)
		fmt.Fprintf(w, "kernel      %s\n", out.KernelID)
		if out.ConnectionFile != "" {
			fmt.Fprintf(w, "connection  %s\n\n", out.ConnectionFile)
			fmt.Fprintf(w, "jupyter console --existing %s\n", out.ConnectionFile)
			fmt.Fprintf(w, "python:  jupyter_client.BlockingKernelClient(connection_file=%q)\n", out.ConnectionFile)
		} else {
			fmt.Fprintf(w, "connection  none on this machine: the kernel's ports are inside the sandbox\n\n")
		}
		fmt.Fprintf(w, "VS Code: Select Kernel > Existing Jupyter Server > %s?token=%s\n", strings.TrimRight(out.ServerURL, "/"), out.Token)
		return nil
	},
}

// connectOutput is `sena connect --json` (docs/schemas/connect.schema.json).
type connectOutput struct {
	SessionID  string `json:"session_id"`
	JupyterURL string `json:"jupyter_url"`
	ServerURL  string `json:"server_url"`
	Token      string `json:"token"`
	KernelID   string `json:"kernel_id"`
	// ConnectionFile is the kernel's connection file on this machine, or "".
	ConnectionFile string `json:"connection_file"`
}

// connectionFile finds kernel-ID.json, which jupyter_server writes to its
// runtime dir, inside the work dir Sena gave the sandbox: providers that
// run kernels on this machine keep it there (the local provider's
// .sena/runtime). It must hold ports and a key to be of use.
func connectionFile(workDir, kernelID string) string {
	if kernelID == "" {
		return ""
	}
	found := ""
	name := "kernel-" + kernelID + ".json"
	_ = filepath.WalkDir(workDir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case found != "":
			return filepath.SkipAll
		case err != nil:
			return nil // unreadable: nothing of ours
		}
		rel, _ := filepath.Rel(workDir, p)
		if d.IsDir() && strings.Count(rel, string(filepath.Separator)) >= 3 {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == name && validConnectionFile(p) {
			found = p
		}
		return nil
	})
	return found
}

func validConnectionFile(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var cf struct {
		ShellPort int    `json:"shell_port"`
		Key       string `json:"key"`
		IP        string `json:"ip"`
	}
	return json.Unmarshal(b, &cf) == nil && cf.ShellPort > 0 && cf.IP != ""
}
