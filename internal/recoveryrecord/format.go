package recoveryrecord

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Human formats a duration for people: 850 ms, 12.3 s, 4 min 48 s.
func Human(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + Human(-d)
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Hour:
		m := int(d / time.Minute)
		s := int(math.Round((d - time.Duration(m)*time.Minute).Seconds()))
		if s == 60 {
			m, s = m+1, 0
		}
		if s == 0 {
			return fmt.Sprintf("%d min", m)
		}
		return fmt.Sprintf("%d min %d s", m, s)
	default:
		h := int(d / time.Hour)
		m := int(math.Round((d - time.Duration(h)*time.Hour).Minutes()))
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
}

// Percent formats a ratio with two significant digits: 0.046%, 3.1%, 45%.
func Percent(r float64) string {
	p := 100 * r
	switch {
	case p == 0:
		return "0%"
	case p < 0.01:
		return "<0.01%"
	case p < 10:
		return strconv.FormatFloat(p, 'g', 2, 64) + "%"
	default:
		return fmt.Sprintf("%.0f%%", p)
	}
}

// Precise formats a margin to a tenth of a second: 4 min 58.6 s.
func Precise(d time.Duration) string {
	d = d.Round(100 * time.Millisecond)
	if d < time.Minute {
		return Human(d)
	}
	m := int(d / time.Minute)
	if m < 60 {
		return fmt.Sprintf("%d min %.1f s", m, (d - time.Duration(m)*time.Minute).Seconds())
	}
	return fmt.Sprintf("%d h %d min %.1f s", m/60, m%60, (d - time.Duration(m)*time.Minute).Seconds())
}
