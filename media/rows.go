package media

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
)

// Content types of the row helpers.
const (
	// CSVType is what [StreamCSV] sends unless StreamOptions.ContentType
	// says otherwise (RFC 4180, with the charset).
	CSVType = "text/csv; charset=utf-8"
	// NDJSONType is what [StreamNDJSON] and folder listings in NDJSON
	// send: one JSON value per line.
	NDJSONType = "application/x-ndjson"
)

// StreamCSV streams rows as CSV through [Stream]: header first (if not
// nil), then one record per row, each made by record, which appends the
// row's fields to dst (a slice reused from row to row) and returns it.
// rows is typically a database cursor wrapped as an iterator; an error it
// yields ends the stream as [Stream] describes (a status before the first
// byte, an aborted response after it), and so does a client that leaves
// (the iterator should watch r.Context()). Every record is handed to the
// chunked path as soon as it is written, so the flush policy sends a
// lone slow row on time.
func StreamCSV[T any](w http.ResponseWriter, r *http.Request, opts StreamOptions, header []string, rows iter.Seq2[T, error], record func(dst []string, row T) []string) error {
	if opts.ContentType == "" {
		opts.ContentType = CSVType
	}
	ctx := r.Context()
	return Stream(w, r, opts, func(out io.Writer) error {
		cw := csv.NewWriter(out)
		if header != nil {
			if err := cw.Write(header); err != nil {
				return err
			}
		}
		var fields []string
		for row, err := range rows {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			fields = record(fields[:0], row)
			if err := cw.Write(fields); err != nil {
				return err
			}
			// csv.Writer buffers on its own; hand each record on, so
			// that the chunked path's timer sees it.
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// StreamNDJSON streams rows as NDJSON through [Stream]: each row encoded
// with encoding/json (HTML characters unescaped) on a line of its own,
// sent as application/x-ndjson. Errors and cancellation behave as in
// [StreamCSV].
func StreamNDJSON[T any](w http.ResponseWriter, r *http.Request, opts StreamOptions, rows iter.Seq2[T, error]) error {
	if opts.ContentType == "" {
		opts.ContentType = NDJSONType
	}
	ctx := r.Context()
	return Stream(w, r, opts, func(out io.Writer) error {
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		for row, err := range rows {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := enc.Encode(row); err != nil {
				return fmt.Errorf("media: encoding a row as JSON: %w", err)
			}
		}
		return nil
	})
}
