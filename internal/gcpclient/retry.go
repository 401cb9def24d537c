package gcpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"sync"
	"syscall"
	"time"

	"github.com/googleapis/gax-go/v2"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Defaults of Policy. A failover is measured in seconds, so a region that
// does not answer must cost about as much as one that refuses: reads and
// polls of regional resources get a short attempt deadline, and a region
// that has not answered at all in this run is not waited for twice.
const (
	// DefaultRequestTimeout bounds one API call, its retries included
	// (the provider's request_timeout).
	DefaultRequestTimeout = 30 * time.Second
	// DefaultReadAttemptTimeout bounds one attempt of a read or operation
	// poll of a regional resource, once its API has answered in this run
	// (its connection and token are set up). Such an attempt is one small
	// request on an open connection: a network round trip (about 250 ms
	// median to the farthest Google Cloud regions) and the read of one
	// resource, so 1 s is several times what it takes. One that takes
	// longer is retried when its region has answered before in this run
	// (a slow tail costs a retry), else the region counts as down for this
	// run: a region whose API hangs costs about this much once.
	DefaultReadAttemptTimeout = time.Second
	// DefaultMaxAttempts is how many times a read or poll is tried.
	DefaultMaxAttempts = 4
	// probeAttemptTimeout bounds the one attempt made to a region that
	// failed as an outage earlier in this run: enough for a region that
	// came back to answer, short enough not to stall the run again.
	probeAttemptTimeout = 250 * time.Millisecond
	// probeInterval spaces those attempts: in between, calls to the region
	// fail at once with the outage seen.
	probeInterval = time.Second
	// coldAttemptTimeout bounds an attempt made before its API has answered
	// anything in this run: the first calls also set up the connection.
	coldAttemptTimeout = 10 * time.Second
)

// DefaultBackoff is the pause between attempts: capped exponential backoff
// with full jitter (gax.Backoff pauses a random time up to the current
// step), as Google's retry guidance recommends.
var DefaultBackoff = gax.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2}

// Policy is how the clients retry and time out calls.
type Policy struct {
	RequestTimeout     time.Duration
	ReadAttemptTimeout time.Duration
	MaxAttempts        int
	Backoff            gax.Backoff
}

func (p Policy) withDefaults() Policy {
	if p.RequestTimeout <= 0 {
		p.RequestTimeout = DefaultRequestTimeout
	}
	if p.ReadAttemptTimeout <= 0 {
		p.ReadAttemptTimeout = DefaultReadAttemptTimeout
	}
	p.ReadAttemptTimeout = min(p.ReadAttemptTimeout, p.RequestTimeout)
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.Backoff.Initial <= 0 {
		p.Backoff = DefaultBackoff
	}
	return p
}

// Retryable reports whether a failed read or poll is worth another attempt:
// HTTP 429, 500, 502, 503 and 504; gRPC UNAVAILABLE, DEADLINE_EXCEEDED and
// RESOURCE_EXHAUSTED; a connection reset or cut short. A cancelled call,
// or a region already known to be out, is not.
func Retryable(err error) bool {
	var out *RegionOutageError
	if err == nil || errors.As(err, &out) || errors.Is(err, context.Canceled) {
		return false
	}
	if code, ok := httpCode(err); ok {
		return retryableHTTP(code)
	}
	switch grpcCode(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || isNetTimeout(err)
}

func retryableHTTP(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// IsRegionOutage reports whether err means the region did not serve the
// call: UNAVAILABLE or HTTP 503, or no answer before the deadline
// (DEADLINE_EXCEEDED, HTTP 504, a context deadline). Reads that tolerate an
// outage keep the last known state on such an error.
func IsRegionOutage(err error) bool {
	var out *RegionOutageError
	if errors.As(err, &out) {
		return true
	}
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if code, ok := httpCode(err); ok {
		return code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
	}
	switch grpcCode(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || isNetTimeout(err)
}

// httpCode is the HTTP status of a REST API error.
func httpCode(err error) (int, bool) {
	var serr *httpStatusError
	if errors.As(err, &serr) {
		return serr.code, true
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code, true
	}
	var aerr *apierror.APIError
	if errors.As(err, &aerr) && aerr.HTTPCode() > 0 {
		return aerr.HTTPCode(), true
	}
	return 0, false
}

// grpcCode is the gRPC code of err, looking through wrapping (status.Code
// only looks at err itself).
func grpcCode(err error) codes.Code {
	var s interface{ GRPCStatus() *status.Status }
	if errors.As(err, &s) && s.GRPCStatus() != nil {
		return s.GRPCStatus().Code()
	}
	return codes.Unknown
}

func isNetTimeout(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue) && ue.Timeout()
}

// RegionOutageError is the error of a call to a region that did not answer
// within its attempt deadline, or that already failed as an outage earlier
// in this run and still does not answer. Its gRPC code is the outage's
// (UNAVAILABLE or DEADLINE_EXCEEDED), so code that tells outages by code
// sees it as one.
type RegionOutageError struct {
	API, Region string
	Code        codes.Code
	Msg         string
	Err         error
}

func (e *RegionOutageError) Error() string { return e.Msg }
func (e *RegionOutageError) Unwrap() error { return e.Err }

// GRPCStatus makes status.Code and status.FromError see the outage's code.
func (e *RegionOutageError) GRPCStatus() *status.Status { return status.New(e.Code, e.Msg) }

// regionHealth remembers, for one provider run, which regions answered and
// which failed as an outage.
type regionHealth struct {
	mu       sync.Mutex
	answered map[string]bool
	out      map[string]*outage
	// warm has, per API, a channel closed once the API answered a call.
	warm map[string]chan struct{}
}

type outage struct {
	err     error
	lastTry time.Time
	// since is when the region was found out. assumed marks an outage
	// carried over from an earlier run (AssumeRegionOut): this run has not
	// called the region since.
	since   time.Time
	assumed bool
}

func newRegionHealth() *regionHealth {
	return &regionHealth{answered: map[string]bool{}, out: map[string]*outage{}, warm: map[string]chan struct{}{}}
}

// warmChan is the channel closed once api has answered; h.mu is held.
func (h *regionHealth) warmChan(api string) chan struct{} {
	ch, ok := h.warm[api]
	if !ok {
		ch = make(chan struct{})
		h.warm[api] = ch
	}
	return ch
}

// warmed returns a channel closed once api has answered, or nil if it has.
func (h *regionHealth) warmed(api string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := h.warmChan(api)
	select {
	case <-ch:
		return nil
	default:
		return ch
	}
}

func (h *regionHealth) markWarm(api string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := h.warmChan(api)
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (h *regionHealth) markAnswered(region string) {
	if region == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.answered[region] = true
	delete(h.out, region)
}

func (h *regionHealth) hasAnswered(region string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.answered[region]
}

func (h *regionHealth) markOut(region string, err error) {
	if region == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	h.out[region] = &outage{err: err, lastTry: now, since: now}
	delete(h.answered, region)
}

// assumeOut records region as out since the time an earlier run found it
// out, as if a call had just failed, unless this run already has news of
// it (an answer or an outage of its own). It reports whether it did.
func (h *regionHealth) assumeOut(region string, since time.Time, err error) bool {
	if region == "" {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.answered[region] || h.out[region] != nil {
		return false
	}
	h.out[region] = &outage{err: err, lastTry: time.Now(), since: since, assumed: true}
	return true
}

// unassume drops an outage of region that was only assumed, so that the
// next call to it is made.
func (h *regionHealth) unassume(region string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if o := h.out[region]; o != nil && o.assumed {
		delete(h.out, region)
	}
}

// outages lists the regions out in this run.
func (h *regionHealth) outages() map[string]RegionOutage {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]RegionOutage, len(h.out))
	for region, o := range h.out {
		out[region] = RegionOutage{Since: o.since, Reason: o.err.Error(), Assumed: o.assumed}
	}
	return out
}

// outage reports whether region is out in this run and, if so, whether
// this call is the one to try it again (else it fails at once with the
// outage's error, marked assumed when no call of this run saw it).
func (h *regionHealth) outage(region string) (out bool, try bool, err error) {
	if region == "" {
		return false, false, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	o := h.out[region]
	if o == nil {
		return false, false, nil
	}
	err = o.err
	if o.assumed {
		err = &assumedOutage{err: o.err, since: o.since}
	}
	if time.Since(o.lastTry) < probeInterval {
		return true, false, err
	}
	o.lastTry = time.Now()
	return true, true, err
}

// RegionOutage is a region out in this run: since when, why, and whether
// it was only assumed from an earlier run (AssumeRegionOut) rather than
// seen by a call of this one.
type RegionOutage struct {
	Since   time.Time
	Reason  string
	Assumed bool
}

// assumedOutage is the cause of a call refused because its region is
// assumed out.
type assumedOutage struct {
	err   error
	since time.Time
}

func (e *assumedOutage) Error() string {
	return fmt.Sprintf("%v (found at %s, before this run)", e.err, e.since.UTC().Format(time.RFC3339))
}
func (e *assumedOutage) Unwrap() error { return e.err }

// call is one API call as the policy runs it, whatever its transport.
type call struct {
	api, region string
	// read marks an idempotent call (a read or an operation poll): only
	// those are retried.
	read bool
}

// attemptFunc makes one attempt under ctx.
type attemptFunc func(ctx context.Context) error

// errAttemptDeadline is the cause of an attempt cut short by its deadline.
var errAttemptDeadline = errors.New("attempt deadline")

// run makes the attempts of one call: each under its own deadline, all
// within the call's, retried as Retryable says for reads, with capped
// exponential backoff and jitter. The region's answers and outages are
// remembered so that a region that does not answer stalls a run once.
func (p Policy) run(ctx context.Context, h *regionHealth, c call, attempt attemptFunc) error {
	callCtx, cancel := context.WithTimeout(ctx, p.RequestTimeout)
	defer cancel()
	bo := p.Backoff
	for n := 1; ; n++ {
		timeout, probing := p.RequestTimeout, false
		if c.region != "" {
			if out, try, cause := h.outage(c.region); out && !try {
				return p.stillOutError(c, cause)
			} else if out {
				// One attempt, to see whether the region is back; a
				// mutation gets as long as a read attempt.
				timeout, probing = p.ReadAttemptTimeout, true
				if c.read {
					timeout = min(probeAttemptTimeout, timeout)
				}
			} else if c.read {
				timeout = p.ReadAttemptTimeout
			}
		}
		attemptCtx, cancelAttempt := context.WithCancelCause(callCtx)
		stop := h.armDeadline(attemptCtx, cancelAttempt, c.api, timeout, min(coldAttemptTimeout, p.RequestTimeout))
		err := attempt(attemptCtx)
		stop()
		timedOut := err != nil && context.Cause(attemptCtx) == errAttemptDeadline
		answered := err == nil || attemptCtx.Err() == nil
		cancelAttempt(nil)
		if answered {
			h.markWarm(c.api)
			if err == nil || !IsRegionOutage(err) {
				h.markAnswered(c.region)
			}
		}
		if err == nil || ctx.Err() != nil { // a caller that gave up says nothing about the region
			return err
		}
		retry := c.read && !probing && n < p.MaxAttempts && (timedOut || Retryable(err))
		if timedOut {
			// A region that has not answered anything in this run is not
			// waited for twice.
			retry = retry && (c.region == "" || h.hasAnswered(c.region))
			err = p.timeoutError(c, timeout, probing)
		} else if callCtx.Err() != nil {
			err = p.timeoutError(c, p.RequestTimeout, probing)
		}
		var pause time.Duration
		if retry {
			pause = bo.Pause()
			if dl, ok := callCtx.Deadline(); ok && time.Now().Add(pause).After(dl) {
				retry = false
			}
		}
		if !retry {
			if c.region != "" && IsRegionOutage(err) {
				h.markOut(c.region, err)
			}
			return err
		}
		if gax.Sleep(callCtx, pause) != nil {
			return err
		}
	}
}

// armDeadline cuts the attempt under ctx short after timeout. Until the API
// has answered anything in this run (its connection and credentials may
// still be being set up), it waits up to cold instead. It returns a
// function that disarms it.
func (h *regionHealth) armDeadline(ctx context.Context, cancel context.CancelCauseFunc, api string, timeout, cold time.Duration) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-t.C:
		case <-done:
			return
		case <-ctx.Done():
			return
		}
		if warm := h.warmed(api); cold > timeout && warm != nil {
			c := time.NewTimer(cold - timeout)
			defer c.Stop()
			select {
			case <-warm:
			case <-c.C:
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
		cancel(errAttemptDeadline)
	}()
	return func() { close(done) }
}

func (p Policy) stillOutError(c call, cause error) error {
	code := grpcCode(cause)
	if code != codes.DeadlineExceeded {
		code = codes.Unavailable
	}
	when := "failed moments ago in this run"
	var assumed *assumedOutage
	if errors.As(cause, &assumed) {
		when = "was found out shortly before this run"
	}
	return &RegionOutageError{API: c.api, Region: c.region, Code: code, Err: cause,
		Msg: fmt.Sprintf("the %s API in region %s %s and is not called again yet: %v", c.api, c.region, when, cause)}
}

func (p Policy) timeoutError(c call, timeout time.Duration, probing bool) error {
	where := "the " + c.api + " API"
	if c.region != "" {
		where += " in region " + c.region
	}
	msg := fmt.Sprintf("%s did not answer within %v", where, timeout)
	if probing {
		msg += " (it had already failed earlier in this run)"
	}
	if c.region == "" {
		return status.Error(codes.DeadlineExceeded, msg)
	}
	return &RegionOutageError{API: c.api, Region: c.region, Code: codes.DeadlineExceeded, Msg: msg, Err: context.DeadlineExceeded}
}

// noLibraryRetry replaces a generated client's retry settings.
var noLibraryRetry = gax.WithRetry(func() gax.Retryer { return nil })

// withoutLibraryRetries appends noLibraryRetry to every method's call
// options of each generated client (their exported CallOptions struct), so
// that the policy alone retries.
func withoutLibraryRetries(clients ...any) {
	optsType := reflect.TypeFor[[]gax.CallOption]()
	for _, client := range clients {
		v := reflect.ValueOf(client)
		if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
			continue
		}
		co := v.Elem().FieldByName("CallOptions")
		if !co.IsValid() || co.Kind() != reflect.Pointer || co.IsNil() {
			continue
		}
		co = co.Elem()
		for i := 0; i < co.NumField(); i++ {
			if f := co.Field(i); f.Type() == optsType && f.CanSet() {
				// A full slice expression: the append copies, never
				// writing into the library's shared defaults.
				f.Set(reflect.Append(f.Slice3(0, f.Len(), f.Len()), reflect.ValueOf(noLibraryRetry)))
			}
		}
	}
}

// fieldsOf lists the exported fields of the struct s points to.
func fieldsOf(s any) []any {
	v := reflect.ValueOf(s).Elem()
	var out []any
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).IsExported() {
			out = append(out, v.Field(i).Interface())
		}
	}
	return out
}
