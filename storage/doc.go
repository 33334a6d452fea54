// Package storage owns the contract between rangeserve's HTTP layer and the
// places bytes live: the [Backend], [Object] and [Info] types, the sentinel
// errors every backend translates its failures into, the optional
// capabilities a backend may offer (found by type assertion, like
// io.WriterTo), and [CleanKey], the single place where a key taken from a URL
// is validated.
//
// It imports nothing of rangeserve and no third-party module; concrete
// backends live in sub-packages (storage/local, storage/s3).
package storage
