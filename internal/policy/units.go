package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses a Go duration ("15m", "1h30m") that may also use d
// for days of 24 hours ("2d", "1d12h", "1.5d"). Signs are accepted as Go
// accepts them; callers decide whether zero or negative values make sense.
func ParseDuration(s string) (time.Duration, error) {
	d, ok := parseDuration(s)
	if !ok {
		return 0, fmt.Errorf("invalid duration %q: use a Go duration such as 15m, 1h30m or 2d", s)
	}
	return d, nil
}

func parseDuration(s string) (time.Duration, bool) {
	if !strings.ContainsRune(s, 'd') {
		d, err := time.ParseDuration(s)
		return d, err == nil
	}
	rest, neg := s, false
	if rest != "" && (rest[0] == '-' || rest[0] == '+') {
		neg = rest[0] == '-'
		rest = rest[1:]
	}
	if rest == "" {
		return 0, false
	}
	var total time.Duration
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] == '.' || '0' <= rest[i] && rest[i] <= '9') {
			i++
		}
		j := i
		for j < len(rest) && rest[j] != '.' && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		if num == "" || unit == "" {
			return 0, false
		}
		var part time.Duration
		if unit == "d" {
			h, err := time.ParseDuration(num + "h")
			if err != nil || h > math.MaxInt64/24 {
				return 0, false
			}
			part = h * 24
		} else {
			d, err := time.ParseDuration(num + unit)
			if err != nil {
				return 0, false
			}
			part = d
		}
		if total > math.MaxInt64-part {
			return 0, false
		}
		total += part
	}
	if neg {
		total = -total
	}
	return total, true
}

// FormatDuration renders a duration the way a policy author writes it:
// "1h", "1h30m", "2d", "1d12h", "90s" → "1m30s". Sub-second durations fall
// back to time.Duration's own form. The result parses with ParseDuration.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	if d < 0 {
		if d == math.MinInt64 {
			return d.String()
		}
		return "-" + FormatDuration(-d)
	}
	if d%time.Second != 0 {
		return d.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		unit string
		size time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := d / u.size; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.unit)
			d -= n * u.size
		}
	}
	return b.String()
}

// sizeUnits are the suffixes ParseSize accepts, longest first so that "KiB"
// wins over "B". Decimal units are powers of 1000 and binary ones powers of
// 1024, as the SI and IEC define them.
var sizeUnits = [...]struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30}, {"ti", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12},
	{"b", 1},
}

// ParseSize parses a byte size: a plain byte count ("1048576") or a whole
// number with a unit, case-insensitive, optionally separated by a space:
// "512KB", "100MB", "1GiB", "10 mib". It rejects negative sizes and sizes
// that do not fit in an int64.
func ParseSize(s string) (int64, error) {
	bad := func() (int64, error) {
		return 0, fmt.Errorf("invalid size %q: use a byte count or a size such as 512KB, 100MB or 1GiB", s)
	}
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			break
		}
	}
	if t == "" || t[0] < '0' || t[0] > '9' {
		return bad()
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return bad()
	}
	return n * mult, nil
}
