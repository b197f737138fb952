// Command nemoclaw-lab builds local sandboxes for the demo and the
// end-to-end tests (SPEC §9).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "nemoclaw-lab: not built yet (issue 3)")
	os.Exit(1)
}
