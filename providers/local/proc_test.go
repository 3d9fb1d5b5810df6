package local

import (
	"os"
	"testing"

	"github.com/sena-labs/sena/core"
)

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (py (weird) x) S 17 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 3 0 987654 1 1 18446744073709551615\n"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st != (procStat{State: 'S', PPID: 17, PGID: 4242, StartTime: 987654}) {
		t.Errorf("parsed %+v", st)
	}
	if _, err := parseStat([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("short stat accepted")
	}
}

func TestAliveChecksStartTime(t *testing.T) {
	st, err := readStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !alive(os.Getpid(), st.StartTime) {
		t.Error("this process is not alive")
	}
	if alive(os.Getpid(), st.StartTime+1) {
		t.Error("a different start time was taken for this process: a reused pid would be mistaken for ours")
	}
}

func TestServerArgs(t *testing.T) {
	port, root := serverArgs([]string{"/usr/bin/timeout", "--kill-after=5s", "3.000s", "/usr/bin/python3", "-m", "jupyter_server",
		"--ServerApp.port=4321", "--ServerApp.root_dir=/w d"})
	if port != 4321 || root != "/w d" {
		t.Errorf("got %d %q", port, root)
	}
	if port, _ := serverArgs(append([]string{"python3"}, core.JupyterServerCommand(core.JupyterLaunch{IP: "127.0.0.1", Port: 99, RootDir: "/r"})...)); port != 99 {
		t.Errorf("the launcher's command line was not recognised: port %d", port)
	}
	if port, _ := serverArgs([]string{"python3", "-m", "ipykernel_launcher", "--ServerApp.port=1"}); port != 0 {
		t.Error("a kernel's command line was taken for a server's")
	}
}
