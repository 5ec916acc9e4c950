package policy

import (
	"math"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"15m", 15 * time.Minute, false},
		{"1h30m", 90 * time.Minute, false},
		{"2d", 48 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"1.5d", 36 * time.Hour, false},
		{"1d1d", 48 * time.Hour, false},
		{"0", 0, false},
		{"0d", 0, false},
		{"-1d2h", -26 * time.Hour, false},
		{"+1d", 24 * time.Hour, false},
		{"500ms", 500 * time.Millisecond, false},
		{"1x", 0, true},
		{"", 0, true},
		{"d", 0, true},
		{"1dd", 0, true},
		{"1", 0, true},
		{"1d1", 0, true},
		{"-", 0, true},
		{"1 d", 0, true},
		// The int64 range of nanoseconds ends at 106751d23h47m16.854775807s.
		{"106752d", 0, true},
		{"106751d23h47m17s", 0, true},
		{"106751d23h47m16s", (106751*24*3600 + 23*3600 + 47*60 + 16) * time.Second, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.err {
			want := `invalid duration "` + tt.in + `": use a Go duration such as 15m, 1h30m or 2d`
			if err == nil || err.Error() != want {
				t.Errorf("ParseDuration(%q) = %v, %v; want error %q", tt.in, got, err, want)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{48 * time.Hour, "2d"},
		{36 * time.Hour, "1d12h"},
		{90 * time.Second, "1m30s"},
		{-time.Hour, "-1h"},
		{1500 * time.Millisecond, "1.5s"},
		{math.MinInt64, time.Duration(math.MinInt64).String()},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.in); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := ParseDuration(FormatDuration(tt.in)); err != nil || back != tt.in {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", tt.in, back, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"1048576", 1 << 20, false},
		{"0", 0, false},
		{"100MB", 100_000_000, false},
		{"512KB", 512_000, false},
		{"1GiB", 1 << 30, false},
		{"10 mib", 10 << 20, false},
		{"2Ki", 2048, false},
		{"7b", 7, false},
		{"1TB", 1_000_000_000_000, false},
		{"8G", 8_000_000_000, false},
		{"", 0, true},
		{"MB", 0, true},
		{"-1MB", 0, true},
		{"1.5GB", 0, true},
		{"1XB", 0, true},
		{"9223372036854775807", math.MaxInt64, false},
		{"9223372036854775807KB", 0, true},
		{"9223372036854775808", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.err {
			want := `invalid size "` + tt.in + `": use a byte count or a size such as 512KB, 100MB or 1GiB`
			if err == nil || err.Error() != want {
				t.Errorf("ParseSize(%q) = %v, %v; want error %q", tt.in, got, err, want)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
