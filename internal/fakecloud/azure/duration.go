package azure

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// parseDuration reads the ISO-8601 durations PIM accepts for activations:
// P[nD]T[nH][nM][nS] with whole numbers (and P[n]W). The fake's own
// parser, independent of the provider's, so each checks the other.
func parseDuration(s string) (time.Duration, error) {
	bad := errors.New("not an ISO-8601 duration")
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return 0, bad
	}
	rest, inTime, total, seen := s[1:], false, time.Duration(0), ""
	for rest != "" {
		if rest[0] == 'T' {
			if inTime || len(rest) == 1 {
				return 0, bad
			}
			inTime, rest = true, rest[1:]
			continue
		}
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) || i > 9 {
			return 0, bad
		}
		n, _ := strconv.Atoi(rest[:i])
		unit := string(rest[i])
		if inTime {
			unit = "T" + unit
		}
		if strings.Contains(seen, unit+",") {
			return 0, bad
		}
		seen += unit + ","
		var size time.Duration
		switch unit {
		case "W":
			size = 7 * 24 * time.Hour
		case "D":
			size = 24 * time.Hour
		case "TH":
			size = time.Hour
		case "TM":
			size = time.Minute
		case "TS":
			size = time.Second
		default:
			return 0, bad
		}
		// Ten years bound every component and the sum, far inside
		// time.Duration's range.
		const limit = 10 * 365 * 24 * time.Hour
		if time.Duration(n) > limit/size || total+time.Duration(n)*size > limit {
			return 0, bad
		}
		total += time.Duration(n) * size
		rest = rest[i+1:]
	}
	if total <= 0 {
		return 0, bad
	}
	return total, nil
}

// formatDuration writes d as PIM writes maximum durations: PT8H, PT1H30M.
func formatDuration(d time.Duration) string {
	s := int64(d / time.Second)
	out := "PT"
	if h := s / 3600; h > 0 {
		out += strconv.FormatInt(h, 10) + "H"
	}
	if m := s / 60 % 60; m > 0 {
		out += strconv.FormatInt(m, 10) + "M"
	}
	if sec := s % 60; sec > 0 || out == "PT" {
		out += strconv.FormatInt(sec, 10) + "S"
	}
	return out
}
