package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// controlView is what the OpenClaw Control UI (2026.9.6) shows, read from
// its DOM. The UI renders into the light DOM (Lit without shadow roots):
// the login view is the <openclaw-login-gate> element, whose failure
// title for a gateway with token auth and no token is "This Gateway
// expects its token"; the connected view is the app shell, whose sidebar
// build card shows the gateway state (the element below) only once the
// gateway's hello has given it the gateway's version.
type controlView struct {
	URL              string `json:"url"`
	LoginGate        bool   `json:"loginGate"`
	AuthRequired     bool   `json:"authRequired"`
	AppShell         bool   `json:"appShell"`
	GatewayConnected bool   `json:"gatewayConnected"`
	Text             string `json:"text"`
}

const controlViewJS = `(() => {
	const d = document;
	const text = d.documentElement ? d.documentElement.textContent : '';
	return {
		url: location.href,
		loginGate: !!d.querySelector('openclaw-login-gate'),
		authRequired: text.includes('This Gateway expects its token'),
		appShell: !!d.querySelector('openclaw-app-shell'),
		gatewayConnected: !!d.querySelector('.sidebar-build-hover-card__gateway-state'),
		text: (d.body ? d.body.innerText : '').replace(/\s+/g, ' ').slice(0, 600),
	};
})()`

func (v controlView) connected() bool {
	return v.AppShell && v.GatewayConnected && !v.LoginGate && !v.AuthRequired
}

// uiState is the page as the test judges it: the view, and the page's
// WebSockets to the gateway.
type uiState struct {
	View    controlView
	Sockets []pageSocket
}

func (s uiState) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "view: login=%v authRequired=%v appShell=%v gatewayConnected=%v url=%s\n  text: %s\n",
		s.View.LoginGate, s.View.AuthRequired, s.View.AppShell, s.View.GatewayConnected, redactToken(s.View.URL), s.View.Text)
	for _, ws := range s.Sockets {
		fmt.Fprintf(&b, "  websocket %s: status %d, hello-ok %v, closed %v, %d frames in, last %q\n",
			ws.URL, ws.Status, ws.HelloOK, ws.Closed, ws.Received, ws.LastFrame)
	}
	if len(s.Sockets) == 0 {
		b.WriteString("  no websocket to the gateway\n")
	}
	return b.String()
}

// liveSocket is a WebSocket the gateway upgraded, answered the connect
// request on, and that is still open.
func (s uiState) liveSocket() bool {
	for _, ws := range s.Sockets {
		if ws.Status == 101 && ws.HelloOK && !ws.Closed {
			return true
		}
	}
	return false
}

func (s uiState) connected() bool { return s.View.connected() && s.liveSocket() }

func readUI(ctx context.Context, b *browser, wsPrefix string) (uiState, error) {
	var st uiState
	if err := b.eval(ctx, controlViewJS, &st.View); err != nil {
		return st, err
	}
	st.Sockets = b.socketsTo(wsPrefix)
	return st, nil
}

// waitUI polls the page until done(state) holds or ctx ends, and returns
// the last state seen.
func waitUI(ctx context.Context, b *browser, wsPrefix string, done func(uiState) bool) (uiState, error) {
	var last uiState
	for {
		st, err := readUI(ctx, b, wsPrefix)
		if err == nil {
			last = st
			if done(st) {
				return st, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("%w: %v", errNotConnected, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// redactToken cuts the single-use bootstrap token out of a URL for logs.
func redactToken(u string) string {
	if i := strings.Index(u, "bootstrapToken="); i >= 0 {
		j := strings.IndexByte(u[i:], '&')
		if j < 0 {
			return u[:i] + "bootstrapToken=…"
		}
		return u[:i] + "bootstrapToken=…" + u[i+j:]
	}
	return u
}
