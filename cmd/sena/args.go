package main

import (
	"regexp"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// normalize rewrites the command line into the order urfave/cli v2 reads,
// so that users can write it in any order they expect:
//
//   - global flags (--json, --provider, ...) may come after the command;
//   - a command's flags may follow its arguments (`sena notebook ID -o F`,
//     `sena exec ID CODE --timeout 5s`), since v2 stops reading flags at the
//     first argument;
//   - --help and -h work anywhere, before or after arguments.
//
// It returns a usage error for an unknown command or flag, naming it and the
// nearest known one, rather than let v2 print help on stdout. Arguments that
// do not look like flags ("-1", "-", "-(x)", code with spaces) stay
// arguments, as does everything after "--"; a "--" is then put back so that
// v2 does not read them as flags.
func normalize(app *cli.App, args []string) ([]string, error) {
	if len(args) == 0 {
		return args, nil
	}
	globals := globalFlags(app)
	var (
		out     = []string{args[0]}
		path    []*cli.Command // the command, then its subcommand
		flags   [][]string     // each command's own flags
		rest    []string       // arguments
		help    bool           // the first argument was "help"
		topics  []*cli.Command // what `help` may be asked about
		dashes  bool
		pending []string // global flags, placed before the command
	)
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case dashes:
			rest = append(rest, a)
		case a == "--":
			dashes = true
		case looksLikeFlag(a):
			var own []cli.Flag
			if len(path) > 0 {
				own = append(slices.Clone(path[len(path)-1].Flags), cli.HelpFlag)
			}
			f := flagNamed(own, a)
			if f == nil {
				f = flagNamed(globals, a)
			}
			if f == nil {
				return nil, unknownFlag(a, path, own, globals)
			}
			if needsValue(f, a) && i+1 >= len(args) {
				return nil, usageErr("flag %s needs a value (see %s --help)", a, commandPath(path))
			}
			if flagNamed(own, a) != nil {
				n := i
				i = takeValue(f, args, i)
				flags[len(flags)-1] = append(flags[len(flags)-1], args[n:i+1]...)
				continue
			}
			n := i
			i = takeValue(f, args, i)
			pending = append(pending, args[n:i+1]...)
		case help:
			rest = append(rest, a)
		case len(path) == 0 && a == "help":
			help, topics = true, app.Commands
			path = append(path, &cli.Command{Name: "help"})
			flags = append(flags, nil)
		case len(path) == 0 && a == completeCommand.Name:
			// Completion gets the words being completed as they are.
			out = append(out, pending...)
			return append(append(out, a, "--"), args[i+1:]...), nil
		case len(path) == 0 && a == keeperCommand.Name:
			// The keeper `sena warm` starts: its arguments are its own.
			out = append(out, pending...)
			return append(append(out, a), args[i+1:]...), nil
		case len(path) == 0:
			cmd := app.Command(a)
			if cmd == nil || cmd.Hidden {
				return nil, unknownCommand(a, app.Commands, "sena")
			}
			path = append(path, cmd)
			flags = append(flags, nil)
		case len(rest) == 0 && len(path[len(path)-1].Subcommands) > 0:
			parent := path[len(path)-1]
			sub := parent.Command(a)
			if sub == nil {
				if a == "help" {
					sub = &cli.Command{Name: "help"}
				} else if parent.Action == nil {
					return nil, unknownCommand(a, parent.Subcommands, "sena "+parent.Name)
				}
			}
			if sub == nil {
				rest = append(rest, a)
				continue
			}
			path = append(path, sub)
			flags = append(flags, nil)
			if sub.Name == "help" {
				help, topics = true, parent.Subcommands
			}
		default:
			rest = append(rest, a)
		}
	}
	if help && len(rest) > 0 {
		// `sena help mcp config` is `sena mcp config --help`: v2's help
		// command reads only the first topic.
		if err := checkHelpTopic(topics, path, rest); err != nil {
			return nil, err
		}
		path, flags = path[:len(path)-1], flags[:len(flags)-1]
		for _, name := range rest {
			path = append(path, &cli.Command{Name: name})
			flags = append(flags, nil)
		}
		flags[len(flags)-1] = append(flags[len(flags)-1], "--help")
		rest = nil
	}
	for _, f := range flags {
		if slices.ContainsFunc(f, func(a string) bool { return a == "--help" || a == "-h" }) {
			rest = nil // v2 would read an argument as a help topic
		}
	}
	out = append(out, pending...)
	for i, c := range path {
		out = append(out, c.Name)
		out = append(out, flags[i]...)
	}
	if slices.ContainsFunc(rest, func(a string) bool { return strings.HasPrefix(a, "-") }) {
		out = append(out, "--")
	}
	return append(out, rest...), nil
}

// flagLike is what a flag looks like: -x, --name, --name=value. Code such
// as "-1", "-(x)" or "- x" does not.
var flagLike = regexp.MustCompile(`(?s)^--?[A-Za-z][A-Za-z0-9-]*(=.*)?$`)

func looksLikeFlag(a string) bool { return flagLike.MatchString(a) }

// globalFlags are the app's flags with --help and --version.
func globalFlags(app *cli.App) []cli.Flag {
	return append(slices.Clone(app.Flags), cli.HelpFlag, cli.VersionFlag)
}

// needsValue: the flag takes a value and arg does not carry it ("--timeout").
func needsValue(f cli.Flag, arg string) bool {
	_, isBool := f.(*cli.BoolFlag)
	return !isBool && !strings.Contains(arg, "=")
}

func commandPath(path []*cli.Command) string {
	where := "sena"
	for _, c := range path {
		where += " " + c.Name
	}
	return where
}

// takeValue returns the index of the last token flag args[i] uses: the
// next one when it takes a value given apart ("--timeout 5s").
func takeValue(f cli.Flag, args []string, i int) int {
	if strings.Contains(args[i], "=") || i+1 >= len(args) {
		return i
	}
	if _, isBool := f.(*cli.BoolFlag); isBool {
		return i
	}
	return i + 1
}

// flagNamed returns the flag that arg ("-o", "--output", "--timeout=5s") names.
func flagNamed(flags []cli.Flag, arg string) cli.Flag {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	if name == "" || !strings.HasPrefix(arg, "-") {
		return nil
	}
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// checkHelpTopic refuses `sena help NOSUCH`, which v2 would answer with
// exit 3.
func checkHelpTopic(cmds []*cli.Command, path []*cli.Command, topic []string) error {
	where := "sena"
	for _, c := range path[:len(path)-1] {
		where += " " + c.Name
	}
	for _, name := range topic {
		var found *cli.Command
		for _, c := range cmds {
			if c.HasName(name) && !c.Hidden {
				found = c
			}
		}
		if found == nil {
			return unknownCommand(name, cmds, where)
		}
		cmds, where = found.Subcommands, where+" "+found.Name
	}
	return nil
}

func unknownCommand(name string, cmds []*cli.Command, where string) error {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	msg := "unknown command " + quote(name) + " for " + quote(where)
	if s := nearest(name, names); s != "" {
		msg += "; did you mean " + quote(s) + "?"
	}
	return usageErr("%s (see %s --help)", msg, where)
}

func unknownFlag(arg string, path []*cli.Command, own, globals []cli.Flag) error {
	name, _, _ := strings.Cut(arg, "=")
	where := "sena"
	for _, c := range path {
		where += " " + c.Name
	}
	var names []string
	for _, f := range append(slices.Clone(own), globals...) {
		for _, n := range f.Names() {
			if len(n) == 1 {
				names = append(names, "-"+n)
			} else {
				names = append(names, "--"+n)
			}
		}
	}
	msg := "unknown flag " + name + " for " + quote(where)
	if s := nearest(name, names); s != "" {
		msg += "; did you mean " + s + "?"
	}
	if len(path) > 0 && path[0].Name == "exec" {
		msg += " (code that starts with - goes after --)"
	}
	return usageErr("%s (see %s --help)", msg, where)
}

func quote(s string) string { return `"` + s + `"` }

// nearest is the candidate closest to s by edit distance, if it is close
// enough to be a likely typo, or one that s is a prefix of.
func nearest(s string, candidates []string) string {
	best, bestD := "", len(s)/2+2
	for _, c := range candidates {
		if len(s) >= 3 && strings.HasPrefix(c, s) {
			return c
		}
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
