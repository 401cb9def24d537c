package gcpclient

import (
	"testing"
	"time"
)

func TestPollPause(t *testing.T) {
	for _, c := range []struct{ waited, want time.Duration }{
		{0, 50 * time.Millisecond},
		{time.Second, 100 * time.Millisecond},
		{5 * time.Second, 500 * time.Millisecond},
		{time.Hour, 2 * time.Second},
	} {
		if got := pollPause(c.waited); got != c.want {
			t.Errorf("pollPause(%v) = %v, want %v", c.waited, got, c.want)
		}
	}
}
