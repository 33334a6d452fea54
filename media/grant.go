package media

import (
	"context"
	"time"
)

// Grant describes the authorization a request was admitted under, so that
// a response the handler hands to someone else (a presigned URL in
// [ModeRedirect]) does not outlive it. The caller that authorized the
// request attaches it with [WithGrant]; a request without one is bounded
// only by the mount's own limits (public mounts, tokens).
type Grant struct {
	// Until is the last moment the authorization (a share link with the
	// playback grace it allows) can still admit this client; the zero time
	// means no limit beyond the mount's.
	Until time.Time
	// ClientBound reports an authorization valid for one client address
	// only (an IP-bound link). A presigned URL cannot carry that binding.
	ClientBound bool
	// OneObject reports an authorization for the object stored under the
	// request's key only (a share link for one key): a folder at that key
	// is not opened for it, neither as an archive nor as a listing (403).
	OneObject bool
}

type grantKey struct{}

// WithGrant returns a copy of ctx that carries g.
func WithGrant(ctx context.Context, g Grant) context.Context {
	return context.WithValue(ctx, grantKey{}, g)
}

// grantFrom returns the Grant attached to ctx, if any.
func grantFrom(ctx context.Context) (Grant, bool) {
	g, ok := ctx.Value(grantKey{}).(Grant)
	return g, ok
}

// Strategy names how a response was delivered.
type Strategy string

// The strategies a [Handler] reports through [Outcome].
const (
	StrategyServe     Strategy = "serve"      // bytes sent by the handler, length known
	StrategyFaststart Strategy = "faststart"  // a virtual faststart file, sent by the handler
	StrategyStream    Strategy = "stream"     // chunked, length unknown
	StrategyXAccel    Strategy = "x-accel"    // delegated to nginx
	StrategyXSendfile Strategy = "x-sendfile" // delegated with X-Sendfile
	StrategyRedirect  Strategy = "redirect"   // 307 to a presigned URL
	StrategyArchive   Strategy = "archive"    // a folder as one ZIP
	StrategyListing   Strategy = "listing"    // a folder's entries as JSON or NDJSON
)

// Outcome lets a middleware (metrics, access log) learn what the handler
// did with a request: attach an empty one with [WithOutcome] before
// calling the handler and read it after the handler returns.
type Outcome struct {
	// Strategy is the delivery strategy chosen, "" when the request was
	// refused before one was chosen (a bad method, a missing key).
	Strategy Strategy
}

type outcomeKey struct{}

// WithOutcome returns a copy of ctx through which the handler reports to o.
func WithOutcome(ctx context.Context, o *Outcome) context.Context {
	return context.WithValue(ctx, outcomeKey{}, o)
}

// report records s in the request's Outcome, if the caller attached one.
func report(ctx context.Context, s Strategy) {
	if o, ok := ctx.Value(outcomeKey{}).(*Outcome); ok {
		o.Strategy = s
	}
}
