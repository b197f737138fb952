// Command nemoclaw recovers AI-agent sandboxes; see the README.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/nemoclaw/nemoclaw-go/host"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := host.Main(ctx, "nemoclaw", os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
