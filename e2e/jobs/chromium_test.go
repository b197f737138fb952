package jobs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

// chromiumFlags run Debian's Chromium headless as root on a machine with
// no network but loopback: without the background-networking, component
// update and sync switches it keeps dialling Google services that this
// machine refuses; QUIC and the GPU are off for the same reason.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-dev-shm-usage", "--window-size=1280,900",
	// The DevTools endpoint on a port the kernel picks (read back from
	// DevToolsActivePort), accepting our client's Origin only.
	"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
	"--remote-allow-origins=" + cdpOrigin,
}

const cdpOrigin = "http://127.0.0.1"

// browser is one headless Chromium with a fresh profile, driven over the
// DevTools protocol through one page target. It records the page's
// WebSockets (Network domain events) as they come.
type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	exited  chan struct{}
	profile string
	ws      *websocket.Conn

	mu      sync.Mutex
	nextID  int
	pending map[int]chan cdpMessage
	sockets map[string]*pageSocket // by CDP requestId
	readErr error
	stopped bool
}

// pageSocket is one WebSocket the page opened, as DevTools reported it.
type pageSocket struct {
	URL       string
	Status    int    // handshake response status (101 when upgraded)
	HelloOK   bool   // a frame from the server carried the connect answer
	Closed    bool   // DevTools saw it close
	Received  int    // frames from the server
	LastFrame string // the last one, cut short, for failure messages
}

type cdpMessage struct {
	ID     int             `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// startBrowser starts Chromium on about:blank and connects to its page.
// The browser is killed when the test ends.
func startBrowser(t *testing.T, ctx context.Context) *browser {
	t.Helper()
	bin := testenv.RequireBinary(t, "chromium")
	profile := t.TempDir()
	logf, err := os.Create(filepath.Join(t.TempDir(), "chromium.log"))
	if err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, chromiumFlags...), "--user-data-dir="+profile, "about:blank")
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: Chromium's helpers (zygote, renderer, GPU
	// stand-in) go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	b := &browser{t: t, cmd: cmd, exited: make(chan struct{}), profile: profile,
		pending: map[int]chan cdpMessage{}, sockets: map[string]*pageSocket{}}
	go func() { cmd.Wait(); logf.Close(); close(b.exited) }()
	t.Cleanup(b.stop)

	port, err := b.devToolsPort(ctx)
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, tailFile(logf.Name(), 20))
	}
	pageURL, err := pageTarget(ctx, port)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	cfg, err := websocket.NewConfig(pageURL, cdpOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if b.ws, err = cfg.DialContext(ctx); err != nil {
		t.Fatalf("connecting to the DevTools page %s: %v", pageURL, err)
	}
	b.ws.MaxPayloadBytes = 64 << 20 // screenshots
	go b.read()
	for _, domain := range []string{"Page.enable", "Network.enable", "Runtime.enable"} {
		if err := b.call(ctx, domain, nil, nil); err != nil {
			t.Fatalf("%s: %v", domain, err)
		}
	}
	return b
}

// devToolsPort waits for Chromium to write DevToolsActivePort (its port
// on the first line) into the profile.
func (b *browser) devToolsPort(ctx context.Context) (string, error) {
	path := filepath.Join(b.profile, "DevToolsActivePort")
	for {
		if data, err := os.ReadFile(path); err == nil {
			if lines := strings.Split(string(data), "\n"); len(lines) >= 2 && lines[0] != "" {
				return strings.TrimSpace(lines[0]), nil
			}
		}
		select {
		case <-b.exited:
			return "", fmt.Errorf("exited before opening its DevTools port")
		case <-ctx.Done():
			return "", fmt.Errorf("no %s: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pageTarget returns the DevTools WebSocket URL of the browser's page.
func pageTarget(ctx context.Context, port string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/json/list", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("listing DevTools targets: %w", err)
	}
	defer resp.Body.Close()
	var targets []struct {
		Type                 string `json:"type"`
		URL                  string `json:"url"`
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		return "", fmt.Errorf("listing DevTools targets: %w", err)
	}
	for _, tg := range targets {
		if tg.Type == "page" && tg.WebSocketDebuggerURL != "" {
			return tg.WebSocketDebuggerURL, nil
		}
	}
	return "", fmt.Errorf("no page target among %+v", targets)
}

// read delivers answers to their callers and folds events into state.
func (b *browser) read() {
	for {
		var raw []byte
		if err := websocket.Message.Receive(b.ws, &raw); err != nil {
			b.mu.Lock()
			b.readErr = err
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.pending[m.ID]; ok {
				ch <- m
				delete(b.pending, m.ID)
			}
		} else {
			b.event(m)
		}
		b.mu.Unlock()
	}
}

// event records the page's WebSockets (called with mu held).
func (b *browser) event(m cdpMessage) {
	var p struct {
		RequestID string `json:"requestId"`
		URL       string `json:"url"`
		Response  struct {
			Status      int    `json:"status"`
			PayloadData string `json:"payloadData"`
		} `json:"response"`
	}
	if !strings.HasPrefix(m.Method, "Network.webSocket") || json.Unmarshal(m.Params, &p) != nil {
		return
	}
	s := b.sockets[p.RequestID]
	if s == nil {
		s = &pageSocket{}
		b.sockets[p.RequestID] = s
	}
	switch m.Method {
	case "Network.webSocketCreated":
		s.URL = p.URL
	case "Network.webSocketHandshakeResponseReceived":
		s.Status = p.Response.Status
	case "Network.webSocketFrameReceived":
		s.Received++
		s.LastFrame = p.Response.PayloadData
		if len(s.LastFrame) > 300 {
			s.LastFrame = s.LastFrame[:300] + "..."
		}
		if isHelloOK(p.Response.PayloadData) {
			s.HelloOK = true
		}
	case "Network.webSocketClosed":
		s.Closed = true
	}
}

// isHelloOK: the gateway's answer to the Control UI's connect request,
// {"type":"res","ok":true,"payload":{"type":"hello-ok",...}} (OpenClaw's
// gateway protocol; the UI validates it against the same shape).
func isHelloOK(frame string) bool {
	var f struct {
		Type    string `json:"type"`
		OK      bool   `json:"ok"`
		Payload struct {
			Type string `json:"type"`
		} `json:"payload"`
	}
	return json.Unmarshal([]byte(frame), &f) == nil && f.Type == "res" && f.OK && f.Payload.Type == "hello-ok"
}

// call sends one DevTools command and decodes its result into out.
func (b *browser) call(ctx context.Context, method string, params, out any) error {
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return fmt.Errorf("%s: DevTools connection closed: %w", method, b.readErr)
	}
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMessage, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if err := websocket.Message.Send(b.ws, string(data)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		switch {
		case !ok:
			return fmt.Errorf("%s: DevTools connection closed", method)
		case m.Error != nil:
			return fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		case out != nil:
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// navigate opens url in the page.
func (b *browser) navigate(ctx context.Context, url string) error {
	var res struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.call(ctx, "Page.navigate", map[string]any{"url": url}, &res); err != nil {
		return err
	}
	if res.ErrorText != "" {
		return fmt.Errorf("navigating to the dashboard: %s", res.ErrorText)
	}
	return nil
}

// eval evaluates a JavaScript expression whose value is JSON-encodable.
func (b *browser) eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := b.call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("evaluating in the page: %s", res.ExceptionDetails.Text)
	}
	return json.Unmarshal(res.Result.Value, out)
}

// socketsTo returns what DevTools reported about the page's WebSockets
// whose URL starts with prefix.
func (b *browser) socketsTo(prefix string) []pageSocket {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []pageSocket
	for _, s := range b.sockets {
		if strings.HasPrefix(s.URL, prefix) {
			out = append(out, *s)
		}
	}
	return out
}

// screenshot saves a PNG of the page into dir and returns its path.
func (b *browser) screenshot(ctx context.Context, dir, name string) (string, error) {
	var res struct {
		Data string `json:"data"`
	}
	if err := b.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &res); err != nil {
		return "", err
	}
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, png, 0o644)
}

// stop kills Chromium and its helpers and removes nothing else (the
// profile is the test's temporary directory). Safe to call twice.
func (b *browser) stop() {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	if b.ws != nil {
		b.ws.Close()
	}
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.t.Errorf("chromium (pid %d) did not exit after SIGKILL", b.cmd.Process.Pid)
	}
}

// tailFile returns the last n lines of a file, for failure messages.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	data, _ := io.ReadAll(io.LimitReader(f, 4<<20))
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var errNotConnected = errors.New("the Control UI did not reach its connected view")

func (b *browser) isStopped() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopped
}
