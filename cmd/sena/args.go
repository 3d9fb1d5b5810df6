package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves a command's own flags that follow its arguments in
// front of them, so `sena notebook ID -o FILE` and `sena exec ID CODE
// --timeout 5s` work: urfave/cli v2 stops reading flags at the first
// argument. Only names the command defines move; anything else that starts
// with "-" (code such as "-1", or "-" for stdin) stays an argument, as does
// everything after "--", and a "--" then keeps them from being read as flags.
func interspersed(app *cli.App, args []string) []string {
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") { // global flags
		if takesValue(app.Flags, args[i]) {
			i++
		}
		i++
	}
	if i >= len(args) {
		return args
	}
	cmd := app.Command(args[i])
	if cmd == nil {
		return args
	}
	var flags, rest []string
	dashes := false // an argument that looks like a flag needs "--" before it
	for j := i + 1; j < len(args); j++ {
		a := args[j]
		switch {
		case a == "--":
			rest = append(rest, args[j+1:]...)
			dashes, j = true, len(args)
		case isFlag(cmd.Flags, a):
			flags = append(flags, a)
			if takesValue(cmd.Flags, a) && j+1 < len(args) {
				j++
				flags = append(flags, args[j])
			}
		default:
			rest = append(rest, a)
		}
	}
	for _, a := range rest {
		dashes = dashes || strings.HasPrefix(a, "-")
	}
	out := append(append([]string{}, args[:i+1]...), flags...)
	if dashes {
		out = append(out, "--")
	}
	return append(out, rest...)
}

// flagNamed returns the flag that arg ("-o", "--output", "--timeout=5s") names.
func flagNamed(flags []cli.Flag, arg string) cli.Flag {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	if name == "" || !strings.HasPrefix(arg, "-") {
		return nil
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func isFlag(flags []cli.Flag, arg string) bool { return flagNamed(flags, arg) != nil }

// takesValue is true for a flag given without "=VALUE" that needs a value.
func takesValue(flags []cli.Flag, arg string) bool {
	f := flagNamed(flags, arg)
	if f == nil || strings.Contains(arg, "=") {
		return false
	}
	_, isBool := f.(*cli.BoolFlag)
	return !isBool
}
