// Command timeline turns `strace -f -ttt` logs of `jit elevate <target> --
// true` into a breakdown of where its wall time goes, by syscalls that mark
// the boundaries of each phase (opening the config file, exec'ing git,
// connecting to STS, locking the journal, exec'ing the child …). With several
// logs it prints the median of each phase.
//
// Run strace with --seccomp-bpf and a short list of syscalls
// (execve,openat,connect,write,exit_group) so that untraced syscalls run at
// full speed; the traced ones still cost a few microseconds each, so the
// figures are a little above an untraced run.
//
// It is a benchmark helper, not part of jit.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// marker ends a phase: the first line, after the previous marker, that
// matches re.
type marker struct {
	phase string
	re    *regexp.Regexp
}

func markers(configFile, awsConfigFile, journal string) []marker {
	q := regexp.QuoteMeta
	return []marker{
		{"process start-up (exec, runtime, package init, command tree)", regexp.MustCompile(`openat\(.*"` + q(configFile) + `"`)},
		{"config load (viper) and git start", regexp.MustCompile(`execve\("[^"]*/git"`)},
		{"git cat-file --batch (ref, commit, tree, blob)", regexp.MustCompile(`^(\d+) .*exit_group\(`)}, // git's own exit: checked below
		{"policy parse and validate (YAML, CEL compile)", regexp.MustCompile(`openat\(.*"` + q(awsConfigFile) + `"`)},
		{"AWS SDK LoadDefaultConfig", regexp.MustCompile(`connect\(`)},
		{"GetCallerIdentity round trip, decision", regexp.MustCompile(`openat\(.*"` + q(journal+".lock") + `"`)},
		{"journal append 1 (request)", regexp.MustCompile(`write\(.*Action=AssumeRole`)},
		{"AssumeRole round trip", regexp.MustCompile(`openat\(.*"` + q(journal+".lock") + `"`)},
		{"journal append 2 (grant, session_start), child environment", regexp.MustCompile(`execve\("[^"]*/true"`)},
		{"the child (`true`) runs", regexp.MustCompile(`^(\d+) .*exit_group\(`)}, // the child's exit
		{"jit reaps the child", regexp.MustCompile(`openat\(.*"` + q(journal+".lock") + `"`)},
		{"journal append 3 (session_end), exit", regexp.MustCompile(`exit_group\(`)},
	}
}

type line struct {
	pid  string
	t    float64
	text string
}

var lineRE = regexp.MustCompile(`^(\d+)\s+(\d+\.\d+)\s+(.*)$`)

func parse(r io.Reader) ([]line, error) {
	var out []line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := lineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		t, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return nil, err
		}
		out = append(out, line{pid: m[1], t: t, text: m[1] + " " + m[3]})
	}
	return out, sc.Err()
}

// phases returns the duration of each phase in milliseconds.
func phases(lines []line, ms []marker) ([]float64, error) {
	if len(lines) == 0 {
		return nil, fmt.Errorf("empty trace")
	}
	// Any thread of jit may call exit_group, so jit's exit is simply the
	// first exit_group after the last journal lock (git and the child have
	// exited by then).
	start := lines[0].t
	var gitPID, childPID string
	out := make([]float64, 0, len(ms))
	i := 0
	prev := start
	for _, m := range ms {
		found := false
		for ; i < len(lines); i++ {
			l := lines[i]
			if strings.Contains(l.text, "resumed>") || !m.re.MatchString(l.text) {
				continue
			}
			switch {
			case strings.Contains(m.phase, "git start"):
				gitPID = l.pid
			case strings.Contains(m.phase, "git cat-file") && l.pid != gitPID:
				continue
			case strings.Contains(m.phase, "child environment"):
				childPID = l.pid
			case strings.Contains(m.phase, "runs") && l.pid != childPID:
				continue
			}
			out = append(out, (l.t-prev)*1000)
			prev = l.t
			found = true
			i++
			break
		}
		if !found {
			return nil, fmt.Errorf("no line marks the end of %q", m.phase)
		}
	}
	return out, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func main() {
	configFile := flag.String("config", os.Getenv("JIT_CONFIG"), "jit's config file (its opening ends start-up)")
	awsConfig := flag.String("aws-config", os.Getenv("AWS_CONFIG_FILE"), "AWS_CONFIG_FILE (its opening starts the SDK's config load)")
	journal := flag.String("journal", "", "the audit journal path")
	flag.Parse()
	if *configFile == "" || *awsConfig == "" || *journal == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: timeline -config FILE -aws-config FILE -journal FILE STRACE-LOG...")
		os.Exit(64)
	}
	ms := markers(*configFile, *awsConfig, *journal)
	runs := make([][]float64, 0, flag.NArg())
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "timeline:", err)
			os.Exit(1)
		}
		lines, err := parse(f)
		f.Close()
		if err == nil {
			var p []float64
			if p, err = phases(lines, ms); err == nil {
				runs = append(runs, p)
				continue
			}
		}
		fmt.Fprintf(os.Stderr, "timeline: %s: %v\n", name, err)
	}
	if len(runs) == 0 {
		os.Exit(1)
	}
	total := 0.0
	fmt.Printf("| phase of `jit elevate … -- true` | median ms (%d runs) |\n|---|---:|\n", len(runs))
	for k, m := range ms {
		col := make([]float64, len(runs))
		for r := range runs {
			col[r] = runs[r][k]
		}
		med := median(col)
		total += med
		fmt.Printf("| %s | %.2f |\n", m.phase, med)
	}
	fmt.Printf("| **sum of medians** | **%.2f** |\n", total)
}
