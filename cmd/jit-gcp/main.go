// Command jit-gcp is jit's GCP provider, run by jit for GCP targets; see
// providers/gcp/remote.
package main

import (
	"os"

	"github.com/jitaccess/jit/providers/gcp/plugin"
)

func main() { os.Exit(plugin.Main()) }
