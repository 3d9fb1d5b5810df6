package nbtest

import (
	"os"
	"path/filepath"
	"testing"
)

// fakeT records a failure instead of stopping the test, so Validate's
// verdict on a bad notebook can be checked.
type fakeT struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = format
	panic(f) // stop like FailNow, caught below
}

func validates(t *testing.T, body string) bool {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nb.ipynb")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	Python(t) // skip here, not inside the fake
	f := &fakeT{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != f {
				panic(r)
			}
		}()
		Validate(f, path)
	}()
	return !f.failed
}

func TestValidate(t *testing.T) {
	const good = `{"cells": [{"cell_type": "code", "execution_count": null, "id": "a1", "metadata": {}, "outputs": [], "source": []}],
		"metadata": {}, "nbformat": 4, "nbformat_minor": 5}`
	cases := []struct {
		name, body string
		ok         bool
	}{
		{"valid", good, true},
		{"duplicate ids", `{"cells": [
			{"cell_type": "markdown", "id": "a1", "metadata": {}, "source": ""},
			{"cell_type": "markdown", "id": "a1", "metadata": {}, "source": ""}],
			"metadata": {}, "nbformat": 4, "nbformat_minor": 5}`, false},
		{"missing outputs", `{"cells": [{"cell_type": "code", "execution_count": null, "id": "a1", "metadata": {}, "source": ""}],
			"metadata": {}, "nbformat": 4, "nbformat_minor": 5}`, false},
		{"transient in output", `{"cells": [{"cell_type": "code", "execution_count": null, "id": "a1", "metadata": {}, "source": "",
			"outputs": [{"output_type": "display_data", "data": {}, "metadata": {}, "transient": {}}]}],
			"metadata": {}, "nbformat": 4, "nbformat_minor": 5}`, false},
		{"minor 4", `{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 4}`, false},
		{"missing id", `{"cells": [{"cell_type": "markdown", "metadata": {}, "source": ""}],
			"metadata": {}, "nbformat": 4, "nbformat_minor": 5}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := validates(t, c.body); got != c.ok {
				t.Errorf("Validate accepted=%v, want %v", got, c.ok)
			}
		})
	}
}
