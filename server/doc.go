// Package server owns rangeserve's listeners and their lifecycle: binding
// an address, the protocols spoken there (HTTP/1.1; HTTP/2 over TLS,
// negotiated by ALPN; optionally HTTP/2 over plain TCP, "h2c"), the
// http.Server's timeouts, graceful shutdown, and replacing the whole
// handler while requests are in flight.
//
// A [Server] is one listener with one http.Server ([Listen] binds at once,
// so a busy port fails at start-up). [Server.Shutdown] stops accepting,
// lets requests in flight finish until its context ends, then closes the
// connections that remain: a response cut that way ends early (its
// Content-Length is not met, or its last chunk never comes), so no client
// takes it for complete. With TLS the certificate is read from files and
// [Server.ReloadCertificate] reads it again, keeping the old one if the
// new files do not load.
//
// A [Switch] is the handler a configuration reload swaps: requests enter
// whichever handler is current when they arrive and stay with it to the
// end; [Switch.Swap] returns a channel closed when the replaced handler's
// last request ends, when its resources (open roots, caches) may be
// released.
//
// Defaults for the http.Server's timeouts live here ([Options]); cmd maps
// the configuration onto them. server imports only the standard library.
package server
