// Package rangeserve holds what the repository ships at its root for the
// binary: the default configuration, compiled in so that the binary runs
// with no files beside it. The server itself lives in cmd/rangeserve and
// the library packages below this one (media, rangeio, storage, auth).
package rangeserve

import _ "embed"

// DefaultConfig is the content of the shipped config.yaml.
//
//go:embed config.yaml
var DefaultConfig []byte
