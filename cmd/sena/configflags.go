package main

import (
	"encoding"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/sena-labs/sena/core"
	"github.com/urfave/cli/v2"
)

// configFlags are the flags of `sena up` (and of commands that take a
// sandbox config), one per setting of core.SandboxConfig that has a flag,
// described by that setting's documentation.
func configFlags() []cli.Flag {
	var flags []cli.Flag
	for _, f := range core.ConfigFields() {
		if f.Flag == "" {
			continue
		}
		usage := flagUsageText(f.Doc)
		if f.Env != "" {
			usage += " (default: $" + f.Env + ")"
		}
		switch flagKind(f.Type) {
		case reflect.Bool:
			flags = append(flags, &cli.BoolFlag{Name: f.Flag, Usage: usage})
		case reflect.Float64:
			flags = append(flags, &cli.Float64Flag{Name: f.Flag, Usage: usage})
		case reflect.Int64:
			flags = append(flags, &cli.Int64Flag{Name: f.Flag, Usage: usage})
		case reflect.Slice:
			flags = append(flags, &cli.StringSliceFlag{Name: f.Flag, Usage: usage})
		default:
			flags = append(flags, &cli.StringFlag{Name: f.Flag, Usage: usage})
		}
	}
	return flags
}

// flagUsageText is a setting's documentation as flag usage: urfave/cli
// would read a `quoted` word as the flag's value placeholder.
func flagUsageText(doc string) string { return strings.ReplaceAll(doc, "`", "'") }

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// flagKind is how a setting is given on the command line: types that read
// text (durations, models, libraries) and maps (KEY=VALUE) as strings or
// repeated strings, the rest as their kind.
func flagKind(t reflect.Type) reflect.Kind {
	switch {
	case t.Kind() == reflect.Map, t.Kind() == reflect.Slice:
		return reflect.Slice
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		return reflect.String
	}
	return t.Kind()
}

// configFromFlags is the config the flags of c set, and only those: what
// is not given stays zero, so it overlays a config file.
func configFromFlags(c *cli.Context) (*core.SandboxConfig, error) {
	cfg := &core.SandboxConfig{}
	root := reflect.ValueOf(cfg).Elem()
	for _, f := range core.ConfigFields() {
		if f.Flag == "" || !c.IsSet(f.Flag) {
			continue
		}
		dst := root.FieldByIndex(f.Index)
		if err := setFromFlag(c, f, dst); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func setFromFlag(c *cli.Context, f core.ConfigField, dst reflect.Value) error {
	switch t := f.Type; {
	case t.Kind() == reflect.Map:
		kvs, err := core.ParseKeyValues("--"+f.Flag, c.StringSlice(f.Flag))
		if err != nil {
			return err
		}
		m := reflect.MakeMap(t)
		for k, v := range kvs {
			m.SetMapIndex(reflect.ValueOf(k), reflect.ValueOf(v).Convert(t.Elem()))
		}
		dst.Set(m)
	case t.Kind() == reflect.Slice:
		vals := c.StringSlice(f.Flag)
		s := reflect.MakeSlice(t, len(vals), len(vals))
		for i, v := range vals {
			if err := setText(s.Index(i), v); err != nil {
				return fmt.Errorf("--%s: %w", f.Flag, err)
			}
		}
		dst.Set(s)
	case t.Kind() == reflect.Bool:
		dst.SetBool(c.Bool(f.Flag))
	case t.Kind() == reflect.Float64:
		dst.SetFloat(c.Float64(f.Flag))
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		if err := dst.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(c.String(f.Flag))); err != nil {
			return fmt.Errorf("--%s: %w", f.Flag, err)
		}
	case t.Kind() == reflect.Int64:
		dst.SetInt(c.Int64(f.Flag))
	default:
		dst.SetString(c.String(f.Flag))
	}
	return nil
}

// setText sets one list element from its command-line text.
func setText(v reflect.Value, s string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	v.SetString(s)
	return nil
}

// upConfig is the config of `sena up`: the file, the flags on top (lists
// append, values override), then the ambient defaults (the global
// --provider's environment or default, $SENA_PYTHON) where neither set
// anything. An explicit global --provider counts as a flag.
func upConfig(c *cli.Context) (*core.SandboxConfig, error) {
	cfg := &core.SandboxConfig{}
	if f := c.String("file"); f != "" {
		var err error
		if cfg, err = core.LoadConfig(f); err != nil {
			return nil, err
		}
	}
	flags, err := configFromFlags(c)
	if err != nil {
		return nil, err
	}
	global, explicit := globalProvider(c)
	if explicit && flags.Provider == "" {
		flags.Provider = global
	}
	cfg.Overlay(flags)
	cfg.FillAmbient(global, os.Getenv("SENA_PYTHON"))
	return cfg, nil
}

// globalProvider is the global --provider: its value, and whether it was
// given on the command line rather than by SENA_PROVIDER or the default
// (the flag's default is read from the environment, so IsSet means given).
func globalProvider(c *cli.Context) (string, bool) {
	for _, ctx := range c.Lineage()[1:] { // c itself is the command's own flags
		if v := ctx.String("provider"); v != "" {
			return v, ctx.IsSet("provider")
		}
	}
	return "", false
}
