package templates_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

// TestValidatorDoubleHasTheRealInterface: the namespace cases' stand-in for
// the image's secret-boundary validator (testdata/ns/validator.py) answers
// exactly as the real one does (NemoClaw's hermes-recovery-boundary.ts and
// the validator's own argument parser): `env-file PATH` and `runtime-env`,
// and a usage error, exit 2, for anything else, including the interface the
// payload used to assume (`<validator> PATH`, `<validator> --process-env`).
// The old double shared that wrong assumption, so no case could see it.
func TestValidatorDoubleHasTheRealInterface(t *testing.T) {
	py := testenv.RequireBinary(t, "/usr/bin/python3")
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.env")
	dirty := filepath.Join(dir, "dirty.env")
	if err := os.WriteFile(clean, []byte(nsCleanHermesEnv+"# a comment\nMODEL=gpt\nSLACK_BOT_TOKEN=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dirty, []byte("MODEL=gpt\nexport OPENAI_API_KEY='"+nsSecret+"'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		why    string
		args   []string
		env    []string
		status int
		stderr string // a part of stderr, when set
	}{
		{"no subcommand is a usage error", nil, nil, 2, "usage"},
		{"the old assumed .env interface is a usage error", []string{clean}, nil, 2, "usage"},
		{"the old assumed --process-env is a usage error", []string{"--process-env"}, nil, 2, "usage"},
		{"env-file needs exactly one path", []string{"env-file"}, nil, 2, "usage"},
		{"runtime-env takes nothing", []string{"runtime-env", "x"}, nil, 2, "usage"},
		{"a clean .env passes (placeholders and empty values are not secrets)", []string{"env-file", clean}, nil, 0, ""},
		{"an absent .env passes", []string{"env-file", filepath.Join(dir, "none")}, nil, 0, ""},
		{"a raw secret in .env is a violation, reported by key and line", []string{"env-file", dirty}, nil, 1, "OPENAI_API_KEY (line 2)"},
		{"a clean process environment passes", []string{"runtime-env"}, []string{"PATH=/usr/bin", "OPENAI_API_KEY=openshell:resolve:env:OPENAI_API_KEY"}, 0, ""},
		{"a raw secret in the process environment is a violation", []string{"runtime-env"}, []string{"PATH=/usr/bin", "NSTEST_API_KEY=" + nsSecret}, 1, "NSTEST_API_KEY"},
	}
	for _, c := range cases {
		cmd := exec.Command(py, append([]string{"-I", filepath.Join(nsTestdata, "validator.py")}, c.args...)...)
		cmd.Env = c.env
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		status := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			status = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", c.why, err)
		}
		if status != c.status {
			t.Errorf("%s: exit %d, want %d (stderr %q)", c.why, status, c.status, stderr.String())
		}
		if c.stderr != "" && !strings.Contains(stderr.String(), c.stderr) {
			t.Errorf("%s: stderr %q lacks %q", c.why, stderr.String(), c.stderr)
		}
		if stdout.Len() != 0 || strings.Contains(stderr.String(), nsSecret) {
			t.Errorf("%s: the validator printed a value or wrote stdout (stdout %q, stderr %q)", c.why, stdout.String(), stderr.String())
		}
	}
}
