// Command gen-docs writes the command reference (markdown) from the real
// command tree, deterministically, so that a test can check it is current.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/spf13/cobra/doc"

	"github.com/jitaccess/jit/internal/jitcmd"
)

func main() {
	out := flag.String("out", "docs/cli", "directory for the markdown reference")
	flag.Parse()
	if err := genMarkdown(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen-docs:", err)
		os.Exit(1)
	}
}

// genMarkdown writes one markdown page per command into dir. It lives here,
// not in the product, so that jit does not link cobra/doc and its markdown
// renderer.
func genMarkdown(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return doc.GenMarkdownTree(jitcmd.NewRoot(), dir)
}
