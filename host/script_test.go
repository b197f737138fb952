package host

import (
	"context"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript run the real command line in-process: the scripts
// under testdata/script call `nemoclaw` and `nemohermes` as a user would.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"nemoclaw":   func() { os.Exit(Main(context.Background(), "nemoclaw", os.Args, os.Stdin, os.Stdout, os.Stderr)) },
		"nemohermes": func() { os.Exit(Main(context.Background(), "nemohermes", os.Args, os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the command-line scenarios in testdata/script. Each
// starts with an empty $HOME, so no registry exists unless a script writes one.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir+"/home")
			env.Setenv("NO_COLOR", "1")
			return os.MkdirAll(env.WorkDir+"/home", 0o700)
		},
	})
}
