//go:build race

package prompt_test

// raceDetector is true under `go test -race`.
const raceDetector = true
