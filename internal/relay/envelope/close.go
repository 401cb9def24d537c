package envelope

// WebSocket close codes the relay uses. Codes below 4000 are the standard
// ones (RFC 6455); 4000-4999 are the relay's own.
const (
	CloseNormal       = 1000 // the agent closed
	CloseGoingAway    = 1001 // the instance is shutting down: reconnect elsewhere
	CloseMalformed    = 1007 // a frame could not be decoded
	ClosePolicy       = 1008 // a frame the relay does not accept from agents
	CloseTooBig       = 1009 // a frame over the maximum frame size
	CloseInternal     = 1011 // the relay failed
	CloseTokenExpired = 4001 // the bearer token expired: reconnect with a fresh one
	CloseIdle         = 4008 // no frame (not even a ping) within the idle timeout
	CloseSlowReader   = 4009 // deliveries not read within the write timeout (byte budget)
	CloseRateLimited  = 4029 // the agent exceeded its frame rate
	CloseQuota        = 4030 // over a quota of its identity; the reason names it
)

// CloseRetryable reports whether a client should reconnect after the relay
// closed with code. Policy violations are not retried: resending the same
// frames would be refused again.
func CloseRetryable(code int) bool {
	switch code {
	case CloseMalformed, ClosePolicy, CloseTooBig:
		return false
	}
	return true
}
