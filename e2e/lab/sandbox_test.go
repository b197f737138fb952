package lab

import "testing"

func TestIsGateway(t *testing.T) {
	cases := []struct {
		why  string
		p    Process
		want bool
	}{
		{"the stub as the kernel runs its shebang", Process{Args: []string{"/usr/bin/node", "/usr/local/bin/openclaw", "gateway", "run", "--port", "18789"}}, true},
		{"the real OpenClaw's entry before it retitles", Process{Args: []string{"/c/node", "/c/openclaw/openclaw.mjs", "gateway", "run"}}, true},
		{"the real OpenClaw while it starts", Process{Args: []string{"openclaw"}}, true},
		{"the real OpenClaw once it runs", Process{Args: []string{"openclaw-gateway"}}, true},
		{"Hermes gateway", Process{Args: []string{"/usr/bin/node", "/usr/local/bin/hermes", "gateway", "run"}}, true},
		{"Hermes dashboard", Process{Args: []string{"/usr/bin/node", "/usr/local/bin/hermes", "dashboard", "--port", "9119"}}, true},
		{"a zombie is not a running gateway", Process{State: "Z", Args: []string{"openclaw-gateway"}}, false},
		{"another openclaw command is not the gateway", Process{Args: []string{"/usr/bin/node", "/usr/local/bin/openclaw", "status"}}, false},
		{"a wrapper shell's command is one argument: it is about to exec, not a gateway", Process{Args: []string{"sh", "-c", ". /tmp/env && exec openclaw gateway run"}}, false},
		{"a grep for the gateway is not the gateway", Process{Args: []string{"grep", "openclaw gateway"}}, false},
	}
	for _, c := range cases {
		if got := c.p.IsGateway(); got != c.want {
			t.Errorf("%s: IsGateway(%q) = %v", c.why, c.p.Args, got)
		}
	}
}

func TestValidateName(t *testing.T) {
	for name, ok := range map[string]bool{
		"t1": true, "a": true, "fleet-9": true,
		"": false, "-a": false, "a-": false, "Upper": false, "a_b": false, "../x": false,
		"a234567890123456789012345678901234567890123456789012345678901234": false, // 64 chars
	} {
		if err := ValidateName(name); (err == nil) != ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}
