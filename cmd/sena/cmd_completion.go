package main

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/internal/humanize"
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/providers"
	"github.com/sena-labs/sena/skills"
	"github.com/urfave/cli/v2"
)

var completionCommand = &cli.Command{
	Name:  "completion",
	Usage: "print a shell completion script (commands, flags, session ids)",
	UsageText: "sena completion bash|zsh|fish\n\n" +
		"bash:  source <(sena completion bash)      (in ~/.bashrc)\n" +
		"zsh:   source <(sena completion zsh)       (in ~/.zshrc, after compinit)\n" +
		"fish:  sena completion fish > ~/.config/fish/completions/sena.fish",
	Action: func(c *cli.Context) error {
		if c.NArg() != 1 {
			return usageErr("completion wants one shell: bash, zsh or fish (see sena completion --help)")
		}
		if c.Bool("json") {
			return usageErr("completion prints a shell script: --json does not apply")
		}
		script, ok := completionScripts[c.Args().First()]
		if !ok {
			return usageErr("completion: unknown shell %q; want bash, zsh or fish", c.Args().First())
		}
		_, err := fmt.Fprint(c.App.Writer, script)
		return err
	},
}

// The scripts ask `sena __complete WORD...` (the words so far, the one
// being completed last) for candidates, one per line as VALUE<TAB>DESCRIPTION;
// with none, the shell completes file names.
var completionScripts = map[string]string{
	"bash": `# sena completion for bash: source <(sena completion bash)
_sena() {
    local IFS=$'\n' line
    local -a out
    out=($("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
    COMPREPLY=()
    for line in "${out[@]}"; do
        COMPREPLY+=("${line%%$'\t'*}")
    done
}
complete -o default -F _sena sena
`,
	"zsh": `#compdef sena
# sena completion for zsh: source <(sena completion zsh), after compinit
_sena() {
    local -a out described
    local line
    out=("${(@f)$("${words[1]}" __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    for line in "${out[@]}"; do
        [[ -n $line ]] && described+=("${${line%%$'\t'*}//:/\\:}:${line#*$'\t'}")
    done
    if (( ${#described} )); then
        _describe -t sena 'sena' described
    else
        _files
    fi
}
compdef _sena sena
`,
	"fish": `# sena completion for fish: sena completion fish > ~/.config/fish/completions/sena.fish
function __sena_complete
    set -l words (commandline -opc) (commandline -ct)
    $words[1] __complete $words[2..-1] 2>/dev/null
end
complete -c sena -a '(__sena_complete)'
`,
}

// completeCommand answers the scripts. Hidden: it is no command for people.
var completeCommand = &cli.Command{
	Name:            "__complete",
	Hidden:          true,
	SkipFlagParsing: true,
	Action: func(c *cli.Context) error {
		words := c.Args().Slice()
		if len(words) > 0 && words[0] == "--" {
			words = words[1:]
		}
		for _, cand := range complete(c.App, words) {
			fmt.Fprintln(c.App.Writer, cand)
		}
		return nil
	},
}

// complete lists the candidates for the last of words (the part of the
// word typed so far; "" for a new word), each "VALUE\tDESCRIPTION".
func complete(app *cli.App, words []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, done := words[len(words)-1], words[:len(words)-1]
	var cmd, sub *cli.Command
	var valueOf cli.Flag // the flag whose value cur is
	positional := 0
	stateDir, pluginDir := "", ""
	for i := 0; i < len(done); i++ {
		w := done[i]
		if looksLikeFlag(w) {
			f := flagNamed(flagsAt(app, cmd, sub), w)
			if f == nil {
				continue
			}
			if j := takeValue(f, done, i); j > i {
				switch f.Names()[0] {
				case "state-dir":
					stateDir = done[j]
				case "plugin-dir":
					pluginDir = done[j]
				}
				i = j
				continue
			}
			if _, isBool := f.(*cli.BoolFlag); !isBool && !strings.Contains(w, "=") && i == len(done)-1 {
				valueOf = f
			}
			continue
		}
		switch {
		case cmd == nil:
			cmd = app.Command(w)
			if w == "help" {
				cmd = &cli.Command{Name: "help"}
			}
		case sub == nil && cmd.Command(w) != nil && positional == 0:
			sub = cmd.Command(w)
		default:
			positional++
		}
	}
	var cands []string
	add := func(value, desc string) {
		if strings.HasPrefix(value, cur) {
			cands = append(cands, value+"\t"+desc)
		}
	}
	switch {
	case valueOf != nil:
		for _, v := range flagValues(valueOf.Names()[0], pluginDir) {
			add(v, valueOf.Names()[0])
		}
	case strings.HasPrefix(cur, "-"):
		for _, f := range flagsAt(app, cmd, sub) {
			if f == cli.VersionFlag && cmd != nil {
				continue
			}
			add("--"+f.Names()[0], flagUsage(f))
		}
	case cmd == nil || cmd.Name == "help":
		if cmd != nil && positional > 0 {
			break
		}
		for _, c := range app.Commands {
			if !c.Hidden {
				add(c.Name, c.Usage)
			}
		}
		if cmd == nil {
			add("help", "show a command's usage")
		}
	case sub == nil && len(cmd.Subcommands) > 0 && positional == 0:
		for _, s := range cmd.Subcommands {
			add(s.Name, s.Usage)
		}
	case cmd.Name == "completion" && positional == 0:
		for _, sh := range []string{"bash", "zsh", "fish"} {
			add(sh, "completion script for "+sh)
		}
	case takesSessions(cmd.Name, positional):
		for _, s := range knownSessions(stateDir, cmd.Name == "notebook") {
			add(s[0], s[1])
		}
	}
	return cands
}

// flagsAt are the flags that apply where the command line is: the
// (sub)command's, then the global ones.
func flagsAt(app *cli.App, cmd, sub *cli.Command) []cli.Flag {
	var fl []cli.Flag
	switch {
	case sub != nil:
		fl = append(fl, sub.Flags...)
	case cmd != nil:
		fl = append(fl, cmd.Flags...)
	}
	return append(append(fl, cli.HelpFlag), globalFlags(app)[:len(app.Flags)]...)
}

func flagUsage(f cli.Flag) string {
	if d, ok := f.(cli.DocGenerationFlag); ok {
		u := d.GetUsage()
		if i := strings.IndexAny(u, ".:;("); i > 0 {
			u = u[:i]
		}
		return strings.TrimSpace(u)
	}
	return ""
}

// takesSessions: the commands whose first argument (down: every one) is a session.
func takesSessions(cmd string, positional int) bool {
	switch cmd {
	case "down":
		return true
	case "exec", "url", "connect", "notebook":
		return positional == 0
	}
	return false
}

// flagValues are the values worth offering for a flag.
func flagValues(name, pluginDir string) []string {
	switch name {
	case "provider":
		return providers.NewRegistry(plugin.Dirs(pluginDir), nil).Names()
	case "mode":
		return []string{string(core.ModeNotebook), string(core.ModeCLI)}
	case "gpu":
		return core.KnownGPUKinds
	case "skill":
		var names []string
		entries, _ := fs.ReadDir(skills.FS, ".")
		for _, e := range entries {
			if e.IsDir() {
				names = append(names, e.Name())
			}
		}
		return names
	case "dtype":
		return []string{"auto", "bfloat16", "float16", "float32"}
	case "device-map":
		return []string{"auto", "cuda", "cpu"}
	}
	return nil
}

// knownSessions are the sessions of the state dir, as [id, description],
// newest first; withNotebooks adds those that are down but left a notebook.
// It reads the records only: completion must not wait on a backend.
func knownSessions(stateDir string, withNotebooks bool) [][2]string {
	if stateDir == "" {
		stateDir = session.DefaultStateDir()
	}
	store, err := session.OpenStore(stateDir)
	if err != nil {
		return nil
	}
	recs, _ := store.List()
	var out [][2]string
	seen := map[string]bool{}
	for _, r := range slices.Backward(recs) {
		desc := []string{r.State, r.Provider, humanize.Age(time.Since(r.CreatedAt))}
		if r.Config.GPU != "" {
			desc = append(desc, r.Config.GPU)
		}
		for _, m := range r.Models {
			if !m.Hidden {
				desc = append(desc, m.Name)
			}
		}
		out = append(out, [2]string{r.ID, strings.Join(desc, " · ")})
		seen[r.ID] = true
	}
	if withNotebooks {
		ids, _ := store.NotebookIDs()
		for _, id := range ids {
			if !seen[id] {
				out = append(out, [2]string{id, "down · notebook kept"})
			}
		}
	}
	return out
}
