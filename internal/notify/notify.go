// Package notify calls webhook targets when a recovery starts or ends or an
// incident changes. A notification never fails the recovery it reports: Send
// returns what did not go out, for the caller to show as a warning.
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Format is the body a target expects.
type Format string

const (
	// Slack is an incoming webhook body: {"text": ..., "blocks": [...]},
	// also accepted by Mattermost, Rocket.Chat and Google Chat (text only).
	Slack Format = "slack"
	// JSON is the event itself as a JSON object.
	JSON Format = "json"
)

// Formats are the accepted values of Format, for validators and messages.
var Formats = []string{string(Slack), string(JSON)}

// Target is one webhook.
type Target struct {
	URL    string
	Format Format
}

// Event is what happened. Kind is one of the constants below, Subject the
// resource it happened to.
type Event struct {
	Kind    string            `json:"event"`
	Subject string            `json:"subject"`
	Summary string            `json:"summary"`
	At      time.Time         `json:"at"`
	Details map[string]string `json:"details,omitempty"`
}

// Event kinds.
const (
	FailoverStarted = "failover_started"
	FailoverResumed = "failover_resumed"
	FailoverEnded   = "failover_ended"
	IncidentUpdated = "incident_updated"
)

// Failure is a target that did not accept the event. Target names the
// webhook by scheme and host only: its path is often the secret.
type Failure struct {
	Target   string
	Attempts int
	Err      error
}

func (f Failure) Error() string {
	return fmt.Sprintf("notifying %s (%d attempt(s)): %v", f.Target, f.Attempts, f.Err)
}

// Sender delivers events with retries. Its zero value is usable.
type Sender struct {
	// Attempts per target, including the first; default 4.
	Attempts int
	// Backoff between attempts doubles from MinWait up to MaxWait; defaults
	// 250 ms and 4 s.
	MinWait, MaxWait time.Duration
	// Deadline bounds all the attempts to one target; default 20 s.
	Deadline time.Duration
	// Client is the HTTP client (default: a client with a 10 s timeout per
	// attempt).
	Client *http.Client
}

func (s Sender) withDefaults() Sender {
	if s.Attempts <= 0 {
		s.Attempts = 4
	}
	if s.MinWait <= 0 {
		s.MinWait = 250 * time.Millisecond
	}
	if s.MaxWait <= 0 {
		s.MaxWait = 4 * time.Second
	}
	if s.Deadline <= 0 {
		s.Deadline = 20 * time.Second
	}
	if s.Client == nil {
		s.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return s
}

// Send posts ev to every target, one after the other so that a receiver sees
// a group's events in order, and returns the targets that did not accept it.
func (s Sender) Send(ctx context.Context, targets []Target, ev Event) []Failure {
	s = s.withDefaults()
	var failed []Failure
	for _, t := range targets {
		if f := s.send(ctx, t, ev); f != nil {
			failed = append(failed, *f)
		}
	}
	return failed
}

func (s Sender) send(ctx context.Context, t Target, ev Event) *Failure {
	name := Redact(t.URL)
	body, err := Body(t.Format, ev)
	if err != nil {
		return &Failure{Target: name, Err: err}
	}
	attempts := 0
	c := &retryablehttp.Client{
		HTTPClient:   s.Client,
		RetryMax:     s.Attempts - 1,
		RetryWaitMin: s.MinWait,
		RetryWaitMax: s.MaxWait,
		Backoff:      retryablehttp.DefaultBackoff, // doubles, capped at RetryWaitMax, honours Retry-After
		CheckRetry: func(ctx context.Context, resp *http.Response, err error) (bool, error) {
			attempts++
			return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
		},
		// The last response's status, rather than "giving up after n
		// attempts" alone.
		ErrorHandler: func(resp *http.Response, err error, n int) (*http.Response, error) {
			if resp != nil {
				resp.Body.Close()
				if err == nil {
					err = fmt.Errorf("HTTP %s", resp.Status)
				}
			}
			return nil, err
		},
	}
	ctx, cancel := context.WithTimeout(ctx, s.Deadline)
	defer cancel()
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, t.URL, body)
	if err != nil {
		return &Failure{Target: name, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			// Not retried: a 4xx other than 429 will not change.
			err = fmt.Errorf("HTTP %s", resp.Status)
		}
	}
	if err != nil {
		// The URL may carry a secret: keep it out of the message.
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return &Failure{Target: name, Attempts: attempts, Err: err}
	}
	return nil
}

// Body is the request body of ev for a target of format f.
func Body(f Format, ev Event) ([]byte, error) {
	switch f {
	case JSON:
		return json.Marshal(ev)
	case Slack, "":
		return json.Marshal(slackBody(ev))
	}
	return nil, fmt.Errorf("format %q: accepted values are %v", f, Formats)
}

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks,omitempty"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// slackBody has the summary as text (what notifications and text-only
// receivers show) and the details as fields of a section block.
func slackBody(ev Event) slackMessage {
	m := slackMessage{Text: ev.Summary}
	m.Blocks = append(m.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: ev.Summary}})
	if len(ev.Details) > 0 {
		sec := slackBlock{Type: "section"}
		for _, k := range slices.Sorted(maps.Keys(ev.Details)) {
			sec.Fields = append(sec.Fields, slackText{Type: "mrkdwn", Text: fmt.Sprintf("*%s*\n%s", k, ev.Details[k])})
		}
		// Slack accepts at most ten fields per section.
		if len(sec.Fields) > 10 {
			sec.Fields = sec.Fields[:10]
		}
		m.Blocks = append(m.Blocks, sec)
	}
	m.Blocks = append(m.Blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn",
		Text: fmt.Sprintf("`%s` %s · %s", ev.Kind, ev.Subject, ev.At.UTC().Format(time.RFC3339))}}})
	return m
}

// Redact names a webhook URL by scheme and host: the path and query of a
// Slack webhook are its secret.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "an invalid webhook URL"
	}
	return u.Scheme + "://" + u.Host
}
