package recoveryrecord

import (
	"testing"
	"time"
)

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{
		850 * time.Millisecond:                  "850 ms",
		12300 * time.Millisecond:                "12.3 s",
		4*time.Minute + 48*time.Second:          "4 min 48 s",
		5 * time.Minute:                         "5 min",
		time.Hour + 30*time.Minute:              "1 h 30 min",
		4*time.Minute + 59*time.Second + 700e6:  "5 min",
		-(1500 * time.Millisecond):              "-1.5 s",
		298600 * time.Millisecond:               "4 min 59 s",
		29*time.Minute + 58100*time.Millisecond: "29 min 58 s",
	} {
		if got := Human(d); got != want {
			t.Errorf("Human(%v) = %q, want %q", d, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		298600 * time.Millisecond:         "4 min 58.6 s",
		899990 * time.Millisecond:         "15 min 0.0 s",
		time.Hour + 1500*time.Millisecond: "1 h 0 min 1.5 s",
		12340 * time.Millisecond:          "12.3 s",
	} {
		if got := Precise(d); got != want {
			t.Errorf("Precise(%v) = %q, want %q", d, got, want)
		}
	}
	for r, want := range map[float64]string{0.00046: "0.046%", 1.3e-9: "<0.01%", 0.031: "3.1%", 0.45: "45%", 0: "0%"} {
		if got := Percent(r); got != want {
			t.Errorf("Percent(%v) = %q, want %q", r, got, want)
		}
	}
}
