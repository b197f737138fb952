package lab

import (
	"errors"
	"fmt"
	"os"

	"github.com/nemoclaw/nemoclaw-go/host/registry"
)

// ours reports whether a registry entry was written by the lab for s.
func (s *Sandbox) ours(e *registry.Sandbox) bool {
	return e != nil && e.Transport != nil && e.Transport.Kind == registry.KindSSH && e.Transport.SSHConfig == s.SSHConfig
}

func (s *Sandbox) registryPath() string { return registry.DefaultPath(s.Options.Home) }

// checkRegistryFree refuses a name the registry already holds for a sandbox
// the lab did not make: up must never take over a real sandbox's entry.
func checkRegistryFree(s *Sandbox) error {
	r, err := registry.Load(s.registryPath())
	if err != nil {
		return err
	}
	if e, ok := r.Sandboxes[s.Name]; ok && !s.ours(e) {
		return fmt.Errorf("a sandbox named %s is already registered in %s and was not made by this lab: pick another name", s.Name, s.registryPath())
	}
	return nil
}

// register writes the sandbox into $HOME/.nemoclaw/sandboxes.json with the
// ssh transport of SPEC §3.1.
func (s *Sandbox) register() error {
	return registry.Update(s.registryPath(), func(r *registry.Registry) error {
		if e, ok := r.Sandboxes[s.Name]; ok && !s.ours(e) {
			return fmt.Errorf("a sandbox named %s is already registered in %s and was not made by this lab", s.Name, s.registryPath())
		}
		if r.Sandboxes == nil {
			r.Sandboxes = map[string]*registry.Sandbox{}
		}
		r.Sandboxes[s.Name] = &registry.Sandbox{
			Name:          s.Name,
			Agent:         s.Options.Agent,
			DashboardPort: s.Options.Port,
			HermesAPIPort: s.Options.APIPort,
			Transport:     &registry.Transport{Kind: registry.KindSSH, SSHConfig: s.SSHConfig, Host: s.Host},
		}
		return nil
	})
}

// unregister removes the sandbox's registry entry if it is still the lab's.
// A missing registry file is left missing.
func (s *Sandbox) unregister() error {
	path := s.registryPath()
	r, err := registry.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !s.ours(r.Sandboxes[s.Name]) {
		return nil
	}
	return registry.Update(path, func(r *registry.Registry) error {
		if s.ours(r.Sandboxes[s.Name]) {
			delete(r.Sandboxes, s.Name)
			if r.DefaultSandbox == s.Name {
				r.DefaultSandbox = ""
			}
		}
		return nil
	})
}
