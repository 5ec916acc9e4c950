package azure

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxISODuration bounds parsed durations well inside time.Duration's range.
const maxISODuration = 100 * 365 * 24 * time.Hour

// FormatISODuration writes d as an ISO-8601 duration the way PIM's
// schedule expirations use it: hours, minutes and seconds (PT1H30M,
// PT45M, PT26H). Fractions of a second are dropped so that the activation
// never outlasts d; durations under a second are an error.
func FormatISODuration(d time.Duration) (string, error) {
	if d < time.Second {
		return "", fmt.Errorf("duration %s is shorter than a second", d)
	}
	s := int64(d / time.Second)
	h, m, sec := s/3600, s/60%60, s%60
	var b strings.Builder
	b.WriteString("PT")
	if h > 0 {
		b.WriteString(strconv.FormatInt(h, 10) + "H")
	}
	if m > 0 {
		b.WriteString(strconv.FormatInt(m, 10) + "M")
	}
	if sec > 0 {
		b.WriteString(strconv.FormatInt(sec, 10) + "S")
	}
	return b.String(), nil
}

// ParseISODuration reads an ISO-8601 duration as PIM policies write them
// (PT8H, P1D, PT1H30M, P1W, PT0.5H). Years and months are refused: their
// length depends on the calendar. Only the last component may have a
// fraction (',' or '.').
func ParseISODuration(s string) (time.Duration, error) {
	bad := func(why string) error { return fmt.Errorf("%q is not an ISO-8601 duration: %s", s, why) }
	u := strings.ToUpper(s)
	if !strings.HasPrefix(u, "P") {
		return 0, bad("it must start with P")
	}
	u = u[1:]
	if u == "" {
		return 0, bad("no components")
	}
	var total float64
	inTime, any, fraction := false, false, false
	lastRank := -1
	for u != "" {
		if u[0] == 'T' {
			if inTime {
				return 0, bad("T appears twice")
			}
			inTime = true
			u = u[1:]
			if u == "" {
				return 0, bad("nothing after T")
			}
			continue
		}
		if fraction {
			return 0, bad("only the last component may have a fraction")
		}
		i := 0
		for i < len(u) && (u[i] >= '0' && u[i] <= '9' || u[i] == '.' || u[i] == ',') {
			i++
		}
		if i == 0 || i == len(u) {
			return 0, bad("want a number followed by a designator")
		}
		num := strings.ReplaceAll(u[:i], ",", ".")
		if num[0] == '.' || num[len(num)-1] == '.' || strings.Count(num, ".") > 1 || len(num) > 20 {
			return 0, bad("malformed number " + u[:i])
		}
		fraction = strings.Contains(num, ".")
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, bad("malformed number " + u[:i])
		}
		var unit time.Duration
		var rank int
		switch d := u[i]; {
		case !inTime && d == 'W':
			unit, rank = 7*24*time.Hour, 0
		case !inTime && d == 'D':
			unit, rank = 24*time.Hour, 1
		case inTime && d == 'H':
			unit, rank = time.Hour, 2
		case inTime && d == 'M':
			unit, rank = time.Minute, 3
		case inTime && d == 'S':
			unit, rank = time.Second, 4
		case !inTime && (d == 'Y' || d == 'M'):
			return 0, bad("years and months have no fixed length; use days")
		default:
			return 0, bad(fmt.Sprintf("unexpected %q", d))
		}
		if rank <= lastRank {
			return 0, bad("components out of order or repeated")
		}
		lastRank = rank
		total += v * float64(unit)
		if total > float64(maxISODuration) {
			return 0, bad("longer than 100 years")
		}
		any = true
		u = u[i+1:]
	}
	if !any {
		return 0, bad("no components")
	}
	return time.Duration(math.Round(total)), nil
}

// humanDuration prints a duration the way jit's flags take it (8h, 1h30m,
// 45m) rather than Go's 8h0m0s.
func humanDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
