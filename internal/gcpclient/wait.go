package gcpclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Operation is what every generated long-running-operation handle offers.
type Operation[T any] interface {
	Poll(ctx context.Context, opts ...gax.CallOption) (T, error)
	Done() bool
	Name() string
}

// Wait polls op until it is done. The generated Wait starts at a one-second
// pause; recovery is measured in seconds, so this pauses a tenth of the time
// waited so far (at least 50 ms, at most 2 s): an operation is seen done at
// most about 10% late, and a long one costs Google Cloud one poll per 2 s.
func Wait[T any](ctx context.Context, op Operation[T]) (T, error) {
	start := time.Now()
	for {
		res, err := op.Poll(ctx)
		if err != nil || op.Done() {
			return res, err
		}
		select {
		case <-ctx.Done():
			var zero T
			return zero, fmt.Errorf("waiting for operation %s: %w", op.Name(), ctx.Err())
		case <-time.After(pollPause(time.Since(start))):
		}
	}
}

// IsNotFound reports whether err is a NOT_FOUND answer of a gRPC API or a
// 404 of a REST one.
func IsNotFound(err error) bool {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code == http.StatusNotFound
	}
	return status.Code(err) == codes.NotFound
}

// Describe turns an API error into a sentence that says which API at which
// endpoint failed, so "connection refused" comes with the address that
// refused it.
func (c *Clients) Describe(api string, err error) string {
	if err == nil {
		return ""
	}
	var out *RegionOutageError
	if errors.As(err, &out) {
		return fmt.Sprintf("%s API at %s is unavailable: %s", api, c.Endpoints[api], out.Msg)
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		if gerr.Code == http.StatusServiceUnavailable || gerr.Code == http.StatusGatewayTimeout {
			return fmt.Sprintf("%s API at %s is unavailable: %s", api, c.Endpoints[api], gerr.Message)
		}
		return fmt.Sprintf("%s API: HTTP %d: %s", api, gerr.Code, gerr.Message)
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return fmt.Sprintf("%s API at %s is unavailable: %s", api, c.Endpoints[api], s.Message())
		default:
			return fmt.Sprintf("%s API: %s: %s", api, s.Code(), s.Message())
		}
	}
	return fmt.Sprintf("%s API at %s: %v", api, c.Endpoints[api], err)
}

func pollPause(waited time.Duration) time.Duration {
	return min(max(waited/10, 50*time.Millisecond), 2*time.Second)
}
