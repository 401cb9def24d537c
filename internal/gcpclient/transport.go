package gcpclient

import (
	"context"
	"io"
	"net/http"
	"strings"

	"google.golang.org/grpc"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient/resname"
)

// unaryInterceptor runs every gRPC call of one API under the policy: the
// region comes from the request's resource names, and methods named Get* or
// List* (reads and operation polls) and Cloud KMS's MacSign and MacVerify
// (which change nothing) are the ones retried.
func (p Policy) unaryInterceptor(api string, h *regionHealth) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		c := call{api: api, region: resname.RegionOfRequest(req), read: isReadMethod(method)}
		return p.run(ctx, h, c, func(ctx context.Context) error {
			return invoker(ctx, method, req, reply, cc, opts...)
		})
	}
}

// isReadMethod reports whether a full gRPC method name
// (/google.cloud.redis.v1.CloudRedis/GetInstance) is a Get, a List or a
// MAC computation.
func isReadMethod(method string) bool {
	name := method[strings.LastIndex(method, "/")+1:]
	return strings.HasPrefix(name, "Get") || strings.HasPrefix(name, "List") || strings.HasPrefix(name, "Mac")
}

// roundTripper runs every REST request of one API under the policy: the
// region comes from a Compute Engine path, GET requests are retried on the
// retryable HTTP codes, unless retries are left to the client library.
type roundTripper struct {
	api    string
	policy Policy
	health *regionHealth
	base   http.RoundTripper
	// noRetry leaves retries to the client library (Cloud Storage has its
	// own, configured in New); deadlines still apply.
	noRetry bool
}

func (t *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	c := call{api: t.api, region: resname.ComputeRegion(req.URL.Path), read: req.Method == http.MethodGet && !t.noRetry}
	var resp *http.Response
	var release context.CancelFunc
	ctx, cancelAll := context.WithCancel(req.Context())
	err := t.policy.run(ctx, t.health, c, func(actx context.Context) error {
		// The response body is read after RoundTrip returns, so the
		// request's context outlives the attempt's: the attempt's deadline
		// cancels it only while the answer is awaited, and closing the
		// body releases it.
		attemptCtx, cancel := context.WithCancel(req.Context())
		stop := context.AfterFunc(actx, cancel)
		r, err := t.base.RoundTrip(req.Clone(attemptCtx))
		stop()
		if err != nil {
			cancel()
			return err
		}
		// The latest answer replaces any earlier one; a retryable one is
		// kept too, as the answer in case no retry follows.
		if resp != nil {
			drain(resp)
			release()
		}
		resp, release = r, cancel
		if retryableHTTP(r.StatusCode) {
			return &httpStatusError{code: r.StatusCode}
		}
		return nil
	})
	if resp == nil || (err != nil && !isHTTPStatus(err)) {
		if resp != nil {
			drain(resp)
			release()
		}
		cancelAll()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: func() { release(); cancelAll() }}
	return resp, nil
}

func drain(r *http.Response) {
	// Draining only lets the connection be reused: a failed read costs a
	// new connection, nothing else.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<16))
	r.Body.Close()
}

// httpStatusError stands for a retryable HTTP answer while the policy
// decides; the client library reads the answer itself.
type httpStatusError struct{ code int }

func (e *httpStatusError) Error() string { return http.StatusText(e.code) }

func isHTTPStatus(err error) bool {
	_, ok := err.(*httpStatusError)
	return ok
}

type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
