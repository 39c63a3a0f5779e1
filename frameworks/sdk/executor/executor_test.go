package executor

import (
	"testing"
	"time"
)

func TestParseMesosDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"15mins": 15 * time.Minute, "2.5secs": 2500 * time.Millisecond,
		"10ms": 10 * time.Millisecond, "1days": 24 * time.Hour, "3weeks": 21 * 24 * time.Hour, "7ns": 7} {
		if got, err := ParseMesosDuration(in); err != nil || got != want {
			t.Errorf("ParseMesosDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "secs", "5", "5s", "1.2.3secs", "-1secs"} {
		if _, err := ParseMesosDuration(bad); err == nil {
			t.Errorf("ParseMesosDuration(%q) accepted", bad)
		}
	}
}
