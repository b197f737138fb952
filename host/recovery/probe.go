package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// DashboardProbe is what GET / through the forward found (SPEC §7.2).
type DashboardProbe struct {
	Code   int
	HTML   bool
	Title  string
	Marker bool // the agent's marker was in the <title>
	Err    error
}

// Answered: 2xx or 401 with an HTML body (device auth answers 401).
func (p DashboardProbe) Answered() bool {
	return p.Err == nil && p.HTML && (p.Code >= 200 && p.Code < 300 || p.Code == http.StatusUnauthorized)
}

var titlePattern = regexp.MustCompile(`(?is)<title[^>]*>([^<]*)</title>`)

// probeClient never uses a proxy (the dashboard is on loopback) and never
// follows a redirect (a redirect is an answer, judged by its own status).
var probeClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// ProbeDashboard sends GET / to 127.0.0.1:port from the host, through the
// forward, and reads up to 256 KiB of the answer.
func ProbeDashboard(ctx context.Context, port int, marker string) DashboardProbe {
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, URLFor(port), nil)
	if err != nil {
		return DashboardProbe{Err: err}
	}
	req.Header.Set("Accept", "text/html")
	resp, err := probeClient.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap() // the URL is already in our own wording
		}
		return DashboardProbe{Err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	p := DashboardProbe{Code: resp.StatusCode}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	p.HTML = ct == "text/html" || ct == "" && looksLikeHTML(body)
	if m := titlePattern.FindSubmatch(body); m != nil {
		p.Title = strings.TrimSpace(string(m[1]))
	}
	p.Marker = marker != "" && strings.Contains(p.Title, marker)
	return p
}

func looksLikeHTML(b []byte) bool {
	s := strings.ToLower(strings.TrimSpace(string(b[:min(len(b), 512)])))
	return strings.HasPrefix(s, "<!doctype html") || strings.HasPrefix(s, "<html")
}

// describe says what the probe found, for the dashboard row.
func (p DashboardProbe) describe(port int, marker string) string {
	switch {
	case p.Err != nil:
		return fmt.Sprintf("no answer through 127.0.0.1:%d: %v", port, p.Err)
	case !p.HTML:
		return fmt.Sprintf("127.0.0.1:%d answered HTTP %d without an HTML page", port, p.Code)
	case !p.Answered():
		return fmt.Sprintf("127.0.0.1:%d answered HTTP %d", port, p.Code)
	case marker == "":
		return fmt.Sprintf("HTTP %d, HTML page %q", p.Code, p.Title)
	case p.Marker:
		return fmt.Sprintf("HTTP %d, %q", p.Code, p.Title)
	}
	return fmt.Sprintf("HTTP %d, HTML page without the %q title (warning: is this the dashboard?)", p.Code, marker)
}
