package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sena-labs/sena/mcp"
	"github.com/urfave/cli/v2"
)

var mcpCommand = &cli.Command{
	Name:  "mcp",
	Usage: "serve Sena's notebook tools to AI agents over MCP (stdio by default)",
	UsageText: "sena mcp                       (stdio: what MCP clients launch)\n" +
		"sena mcp --http 127.0.0.1:8765  (streamable HTTP with a bearer token)\n" +
		"sena mcp config                 (print the client config for this binary)",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "http", Usage: "serve streamable HTTP on HOST:PORT instead of stdio (bearer token from $SENA_MCP_TOKEN, or generated and printed to stderr)"},
		&cli.BoolFlag{Name: "allow-remote", Usage: "let --http listen on an address other machines can reach"},
		&cli.IntFlag{Name: "text-budget", Value: 20000, Usage: "characters of text per tool result; longer output is cut in the middle (the notebook keeps it)"},
		&cli.StringFlag{Name: "python", EnvVars: []string{"SENA_PYTHON"}, Usage: "local provider: default Python for start_session"},
	},
	Subcommands: []*cli.Command{mcpConfigCommand},
	Action: func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usageErr("mcp takes no arguments, got %q (see sena mcp --help)", c.Args().First())
		}
		if c.Bool("json") {
			return usageErr("sena mcp speaks MCP on stdout (or HTTP): --json does not apply")
		}
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		srv := mcp.New(e.manager, mcp.Options{
			Version: version, Provider: c.String("provider"), Python: c.String("python"),
			ListProviders: listProviders(c, e), TextBudget: c.Int("text-budget"),
		})
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Close(ctx)
		}()
		if addr := c.String("http"); addr != "" {
			return serveHTTP(c, srv, addr)
		}
		// stdout carries the protocol: nothing else may write to it.
		err = srv.MCP().Run(c.Context, mcp.StdioTransport(os.Stdin, os.Stdout))
		if c.Context.Err() != nil {
			return nil // stopped by a signal
		}
		return err
	},
}

func serveHTTP(c *cli.Context, srv *mcp.Server, addr string) error {
	token, generated := os.Getenv("SENA_MCP_TOKEN"), false
	if token == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		token, generated = hex.EncodeToString(b), true
	}
	return srv.ServeHTTP(c.Context, mcp.HTTPOptions{
		Addr: addr, Token: token, AllowRemote: c.Bool("allow-remote"),
		Ready: func(url string) {
			fmt.Fprintf(c.App.ErrWriter, "sena: MCP over streamable HTTP at %s\n", url)
			if generated {
				// Shown once, to the person who started the server; never logged.
				fmt.Fprintf(c.App.ErrWriter, "sena: bearer token (send \"Authorization: Bearer TOKEN\"): %s\n", token)
			}
		},
	})
}

var mcpConfigCommand = &cli.Command{
	Name:  "config",
	Usage: "print the MCP client config (mcpServers JSON, as Claude Code and Cursor read it) for this sena binary",
	Action: func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usageErr("mcp config takes no arguments, got %q (see sena mcp config --help)", c.Args().First())
		}
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		if exe, err = filepath.EvalSymlinks(exe); err != nil {
			return err
		}
		entry := map[string]any{"type": "stdio", "command": exe, "args": []string{"mcp"}}
		if env := mcpEnv(c); len(env) > 0 {
			entry["env"] = env
		}
		out, err := json.MarshalIndent(map[string]any{"mcpServers": map[string]any{"sena": entry}}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(c.App.Writer, string(out))
		return err
	},
}

// mcpEnv carries the settings this shell gives sena into the client's
// launch of it, so the agent sees the same sessions. None is secret.
func mcpEnv(c *cli.Context) map[string]string {
	env := map[string]string{}
	for flag, name := range map[string]string{
		"state-dir": "SENA_STATE_DIR", "provider": "SENA_PROVIDER", "plugin-dir": "SENA_PLUGIN_DIR",
	} {
		if c.IsSet(flag) {
			v := c.String(flag)
			if flag == "state-dir" {
				if abs, err := filepath.Abs(v); err == nil {
					v = abs
				}
			}
			env[name] = v
		}
	}
	if v := os.Getenv("SENA_PYTHON"); v != "" {
		env["SENA_PYTHON"] = v
	}
	return env
}
