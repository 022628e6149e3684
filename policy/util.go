package policy

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

func asErr(err error, target any) bool { return errors.As(err, target) }

// parseDuration reads Go durations and whole days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(strings.TrimSpace(s), "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
