// Package build holds the version information stamped in at link time:
//
//	go build -ldflags "-X github.com/jitaccess/jit/internal/build.Version=v1.2.3 \
//	  -X github.com/jitaccess/jit/internal/build.Commit=$(git rev-parse HEAD) \
//	  -X github.com/jitaccess/jit/internal/build.Date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
package build

import "runtime/debug"

// Set by -ldflags -X; see the Makefile and .goreleaser.yaml.
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// Info is the version triple, falling back to what the Go toolchain
// recorded (module version, vcs.revision, vcs.time) when the binary was built
// without -ldflags, e.g. by `go install`.
func Info() (version, commit, date string) {
	version, commit, date = Version, Commit, Date
	if commit != "" && date != "" && version != "dev" {
		return
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if commit == "" {
				commit = s.Value
			}
		case "vcs.time":
			if date == "" {
				date = s.Value
			}
		}
	}
	return
}
