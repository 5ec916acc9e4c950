package ship_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/audit/ship/shiptest"
)

func elevations(t *testing.T) shiptest.KillRestart {
	if testing.Short() {
		return shiptest.KillRestart{Elevations: 100}
	}
	return shiptest.KillRestart{}
}

// An in-process sink that refuses everything during a window in the
// middle of 1,000 elevations, and stores some batches whose answer is lost.
func TestKillRestartMemory(t *testing.T) {
	m := &shiptest.MemorySink{FailEvery: 97, AcceptThenFail: true}
	shiptest.RunKillRestartWith(t, elevations(t),
		func() audit.BatchSink { return m },
		func() { m.SetDown(true) }, func() { m.SetDown(false) },
		m.Lines)
}

// The file sink, whose directory disappears during the window (a file
// stands in its place, so that even root cannot write there).
func TestKillRestartFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	path := filepath.Join(dir, "audit.jsonl")
	shiptest.RunKillRestartWith(t, elevations(t),
		func() audit.BatchSink { return audit.NewFileSink(path, 512<<10) },
		func() {
			if err := os.Rename(dir, dir+".away"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		func() {
			if err := os.Remove(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(dir+".away", dir); err != nil {
				t.Fatal(err)
			}
		},
		func() [][]byte {
			// Rotated generations, oldest first, then the current file.
			var all []byte
			for g := audit.FileGenerations; g >= 1; g-- {
				data, err := os.ReadFile(path + "." + string(rune('0'+g)))
				if err == nil {
					all = append(all, data...)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, data...)
			return bytes.SplitAfter(bytes.TrimSuffix(all, []byte("\n")), []byte("\n"))
		})
}
