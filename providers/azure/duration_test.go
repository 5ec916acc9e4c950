package azure

import (
	"strings"
	"testing"
	"time"
)

func TestFormatISODuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{time.Hour, "PT1H"},
		{90 * time.Minute, "PT1H30M"},
		{45 * time.Minute, "PT45M"},
		{26 * time.Hour, "PT26H"},
		{time.Hour + 30*time.Second, "PT1H30S"},
		{61 * time.Second, "PT1M1S"},
		{time.Second + 999*time.Millisecond, "PT1S"},
	}
	for _, tt := range tests {
		got, err := FormatISODuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("FormatISODuration(%s) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, d := range []time.Duration{0, -time.Hour, 999 * time.Millisecond} {
		if s, err := FormatISODuration(d); err == nil {
			t.Errorf("FormatISODuration(%s) = %q, want an error", d, s)
		}
	}
}

func TestParseISODuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "PT8H", want: 8 * time.Hour},
		{in: "PT1H30M", want: 90 * time.Minute},
		{in: "P1D", want: 24 * time.Hour},
		{in: "P1DT12H", want: 36 * time.Hour},
		{in: "P1W", want: 7 * 24 * time.Hour},
		{in: "P365D", want: 365 * 24 * time.Hour},
		{in: "PT0.5H", want: 30 * time.Minute},
		{in: "PT1,5H", want: 90 * time.Minute},
		{in: "PT30.25S", want: 30250 * time.Millisecond},
		{in: "pt2h", want: 2 * time.Hour},
		{in: "PT0S", want: 0},
		{in: "", err: "start with P"},
		{in: "P", err: "no components"},
		{in: "PT", err: "nothing after T"},
		{in: "8H", err: "start with P"},
		{in: "PT8", err: "number followed by a designator"},
		{in: "P1Y", err: "years and months"},
		{in: "P1M", err: "years and months"},
		{in: "PT1M1H", err: "out of order"},
		{in: "PT1H1H", err: "out of order"},
		{in: "P1DT", err: "nothing after T"},
		{in: "PT1.5H30M", err: "only the last component"},
		{in: "PT.5H", err: "malformed number"},
		{in: "PT1.H", err: "malformed number"},
		{in: "P1H", err: "unexpected"},
		{in: "PT1D", err: "unexpected"},
		{in: "P999999999999D", err: "longer than 100 years"},
		{in: "PTTH", err: "T appears twice"},
	}
	for _, tt := range tests {
		got, err := ParseISODuration(tt.in)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseISODuration(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseISODuration(%q) = %s, %v; want an error with %q", tt.in, got, err, tt.err)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{8 * time.Hour: "8h", 90 * time.Minute: "1h30m", 45 * time.Minute: "45m",
		30 * time.Second: "30s", time.Hour + 30*time.Second: "1h0m30s"} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func FuzzISODuration(f *testing.F) {
	for _, s := range []string{"PT8H", "PT1H30M", "P1DT2H3M4S", "P2W", "PT0.5H", "PT1,5M", "P1Y", "PT", "PT99999999999H"} {
		f.Add(s, int64(time.Hour))
	}
	f.Fuzz(func(t *testing.T, s string, n int64) {
		// Parse: anything accepted is non-negative, bounded, and formats
		// back (at whole-second precision) to a duration that parses to the
		// same whole seconds.
		if d, err := ParseISODuration(s); err == nil {
			if d < 0 || d > maxISODuration {
				t.Fatalf("ParseISODuration(%q) = %s", s, d)
			}
			if d >= time.Second {
				out, err := FormatISODuration(d)
				if err != nil {
					t.Fatalf("FormatISODuration(%s): %v", d, err)
				}
				back, err := ParseISODuration(out)
				if err != nil || back != d.Truncate(time.Second) {
					t.Fatalf("%q → %s → %q → %s, %v", s, d, out, back, err)
				}
			}
		}
		// Format: round trip exact at whole seconds, never longer than
		// the input.
		d := time.Duration(n)
		if d < time.Second || d > maxISODuration {
			return
		}
		out, err := FormatISODuration(d)
		if err != nil {
			t.Fatalf("FormatISODuration(%s): %v", d, err)
		}
		back, err := ParseISODuration(out)
		if err != nil || back != d.Truncate(time.Second) || back > d {
			t.Fatalf("%s → %q → %s, %v", d, out, back, err)
		}
	})
}
