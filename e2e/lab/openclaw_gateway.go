package lab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// openClawLogFile is OpenClaw's own log (logging.file) inside the sandbox:
// under /tmp like the rest of a real sandbox's runtime files, so wipe-tmp
// and recreate remove it too.
const openClawLogFile = "/tmp/openclaw/openclaw.log"

// openClawGateway is the real OpenClaw gateway (installed by `make
// lab-deps`, see openclaw.go) prepared for one sandbox.
type openClawGateway struct{ inst *OpenClawInstall }

func findOpenClawGateway(cacheDir string) (*openClawGateway, error) {
	inst, err := FindOpenClaw(cacheDir)
	if err != nil {
		return nil, err
	}
	return &openClawGateway{inst: inst}, nil
}

// prepare writes the gateway's home on the host (Dir/openclaw-home, bound
// inside at openClawHomeInside by init.sh) with a minimal config and a fresh
// token (kept in Dir/openclaw-token), and returns the wrapper to install as
// /usr/local/bin/openclaw.
func (g *openClawGateway) prepare(s *Sandbox) ([]byte, error) {
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	token := hex.EncodeToString(tok)
	uid := sandboxUID
	if s.gatewayUser() == UserGateway {
		uid = gatewayUID
	}
	if err := WriteOpenClawConfig(s.path("openclaw-home"), s.Options.Port, token, openClawLogFile, uid, uid); err != nil {
		return nil, err
	}
	if err := writeFile(s.path("openclaw-token"), []byte(token+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("writing the OpenClaw token: %w", err)
	}
	return g.inst.Wrapper(openClawHomeInside), nil
}
