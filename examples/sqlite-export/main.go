// Command sqlite-export is an example of media's chunked path as a
// library: it streams the rows of an SQLite database (modernc.org/sqlite,
// pure Go, no cgo) as CSV and as NDJSON, straight from the database
// cursor, without holding the export in memory:
//
//	go run ./examples/sqlite-export -db /tmp/events.db -rows 1000000 -addr 127.0.0.1:8090
//	curl --raw -s http://127.0.0.1:8090/events.csv | head
//	curl -s http://127.0.0.1:8090/events.ndjson | tail -n 1
//
// Each response is one call, [media.StreamCSV] or [media.StreamNDJSON],
// given an iterator over the query's rows: the first rows leave at once
// (flushed every 32 KiB or 20 ms, whichever comes first), a client that
// leaves cancels the query through the request's context, and a database
// error after the first byte aborts the response, so the client sees a
// broken transfer rather than a short export that looks complete.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"iter"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	_ "modernc.org/sqlite"

	"github.com/rangeserve/rangeserve/media"
)

// Event is one row of the events table.
type Event struct {
	ID      int64   `json:"id"`
	Name    string  `json:"name"`
	Value   float64 `json:"value"`
	Created string  `json:"created"`
}

// eventFor is the row the generated database holds for id, so that a test
// can check every row of an export.
func eventFor(id int64) Event {
	return Event{
		ID:      id,
		Name:    fmt.Sprintf("event %d, \"quoted\"", id),
		Value:   float64(id) / 4,
		Created: time.Unix(1_700_000_000+id, 0).UTC().Format(time.RFC3339),
	}
}

// createDB creates the events table in the database at path and fills it
// with n generated rows, in one transaction.
func createDB(ctx context.Context, path string, n int64) error {
	db, err := openDB(path)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE events (id INTEGER PRIMARY KEY, name TEXT NOT NULL, value REAL NOT NULL, created TEXT NOT NULL)`); err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO events (id, name, value, created) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for id := int64(1); id <= n; id++ {
		e := eventFor(id)
		if _, err := ins.ExecContext(ctx, e.ID, e.Name, e.Value, e.Created); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func openDB(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
}

// events yields the rows of the events table in id order, from one
// cursor. The query runs under ctx: when the client leaves, the query is
// cancelled and the cursor closed.
func events(ctx context.Context, db *sql.DB) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		rows, err := db.QueryContext(ctx, `SELECT id, name, value, created FROM events ORDER BY id`)
		if err != nil {
			yield(Event{}, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			var e Event
			if err := rows.Scan(&e.ID, &e.Name, &e.Value, &e.Created); err != nil {
				yield(Event{}, err)
				return
			}
			if !yield(e, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(Event{}, err)
		}
	}
}

// newHandler serves /events.csv and /events.ndjson from db.
func newHandler(db *sql.DB, opts media.StreamOptions) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events.csv", func(w http.ResponseWriter, r *http.Request) {
		o := opts
		o.Filename = "events.csv"
		media.StreamCSV(w, r, o, []string{"id", "name", "value", "created"}, events(r.Context(), db),
			func(dst []string, e Event) []string {
				return append(dst, strconv.FormatInt(e.ID, 10), e.Name, strconv.FormatFloat(e.Value, 'g', -1, 64), e.Created)
			})
	})
	mux.HandleFunc("GET /events.ndjson", func(w http.ResponseWriter, r *http.Request) {
		media.StreamNDJSON(w, r, opts, events(r.Context(), db))
	})
	return mux
}

func main() {
	path := flag.String("db", "events.db", "SQLite database file (created with -rows generated rows if missing)")
	n := flag.Int64("rows", 1_000_000, "rows to generate when the database is created")
	addr := flag.String("addr", "127.0.0.1:8090", "address to listen on")
	flag.Parse()
	ctx := context.Background()
	if _, err := os.Stat(*path); errors.Is(err, os.ErrNotExist) {
		start := time.Now()
		if err := createDB(ctx, *path, *n); err != nil {
			log.Fatalf("creating %s: %v", *path, err)
		}
		slog.Info("database created", "path", *path, "rows", *n, "took", time.Since(start).Round(time.Millisecond))
	}
	db, err := openDB(*path)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	slog.Info("serving", "csv", "http://"+*addr+"/events.csv", "ndjson", "http://"+*addr+"/events.ndjson")
	srv := &http.Server{Addr: *addr, Handler: newHandler(db, media.StreamOptions{}), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
