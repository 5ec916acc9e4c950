// Command gen-docs writes the command reference (markdown) from the real
// command tree, deterministically, so that a test can check it is current.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/jitaccess/jit/internal/jitcmd"
)

func main() {
	out := flag.String("out", "docs/cli", "directory for the markdown reference")
	flag.Parse()
	if err := jitcmd.GenMarkdown(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen-docs:", err)
		os.Exit(1)
	}
}
