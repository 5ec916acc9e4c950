package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/jitaccess/jit/internal/jitcmd"
)

// The committed command reference and completion scripts must match the
// real command tree; `make generate` refreshes them.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	dir := t.TempDir()
	if err := genMarkdown(dir); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	committed, _ := filepath.Glob("../../docs/cli/*.md")
	if len(committed) != len(entries) {
		t.Errorf("docs/cli has %d pages, the command tree %d: run make generate", len(committed), len(entries))
	}
	for _, e := range entries {
		want, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		got, err := os.ReadFile(filepath.Join("../../docs/cli", e.Name()))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("docs/cli/%s is stale: run make generate", e.Name())
		}
	}

	for shell, file := range map[string]string{"bash": "jit.bash", "zsh": "_jit", "fish": "jit.fish", "powershell": "jit.ps1"} {
		var buf bytes.Buffer
		root := jitcmd.NewRoot()
		var err error
		switch shell {
		case "bash":
			err = root.GenBashCompletionV2(&buf, true)
		case "zsh":
			err = root.GenZshCompletion(&buf)
		case "fish":
			err = root.GenFishCompletion(&buf, true)
		case "powershell":
			err = root.GenPowerShellCompletionWithDesc(&buf)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(filepath.Join("../../completions", file))
		if !bytes.Equal(got, buf.Bytes()) {
			t.Errorf("completions/%s is stale: run make generate", file)
		}
	}
}
