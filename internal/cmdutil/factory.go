// Package cmdutil holds what every command shares: the Factory of lazily
// built dependencies, typed errors that Main maps to exit codes, and flag
// helpers.
package cmdutil

import (
	"github.com/jitaccess/jit/internal/config"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/internal/policysource"
	"github.com/jitaccess/jit/internal/prompt"
	"github.com/jitaccess/jit/providers"
)

// Factory carries the dependencies of commands. Values that cost something
// to build are functions, called only by commands that need them, so that
// `jit version` or `jit audit verify` never load a cloud SDK.
type Factory struct {
	IOStreams *iostreams.IOStreams
	// Prompter draws on stderr; only call it when IOStreams.CanPrompt().
	Prompter func() prompt.Prompter
	// Config loads the configuration once.
	Config func() (*config.Config, error)
	// Providers is the registry of providers (specs are free; a provider is
	// constructed on first Get).
	Providers func() *providers.Registry
	// PolicySource is the configured policy source (git at a ref).
	PolicySource func() (policysource.Source, error)
	// Elevation builds the elevation service once.
	Elevation func() (*elevation.Service, error)
	// Getenv and Environ read the process environment (injectable in tests).
	Getenv  func(string) string
	Environ func() []string
	// Executable is the path of the running jit binary.
	Executable func() string
	// Debugf writes a --debug line on stderr; a no-op without --debug. It
	// must never be given a secret.
	Debugf func(format string, args ...any)
}
