package lab

import "errors"

// openClawGateway is the real OpenClaw gateway prepared for one sandbox.
type openClawGateway struct{}

func findOpenClawGateway(cacheDir string) (*openClawGateway, error) {
	return nil, errors.New("the real OpenClaw gateway is not installed: run `make lab-deps`")
}

func (g *openClawGateway) prepare(s *Sandbox) ([]byte, error) { return nil, errors.New("not available") }
