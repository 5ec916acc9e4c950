// Command jit is just-in-time privileged access; see jitcmd.
package main

import (
	"os"

	"github.com/jitaccess/jit/internal/jitcmd"
)

func main() { os.Exit(jitcmd.Main()) }
