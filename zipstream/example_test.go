package zipstream_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rangeserve/rangeserve/zipstream"
)

// strFile is an in-memory entry.
type strFile struct {
	*strings.Reader
	etag string
}

func (f strFile) Close() error { return nil }
func (f strFile) ETag() string { return f.etag }
func (f strFile) Size() int64  { return f.Reader.Size() }

// An archive's size and ETag are known from the listing alone; any range
// of it is produced on demand.
func ExampleBuild() {
	files := map[string]string{"docs/a.txt": "hello\n", "docs/b.txt": "world\n"}
	mtime := time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC)
	listing := []zipstream.Entry{
		{Name: "docs", Dir: true, ModTime: mtime},
		{Name: "docs/a.txt", Size: 6, ModTime: mtime, ETag: `"a1"`},
		{Name: "docs/b.txt", Size: 6, ModTime: mtime, ETag: `"b1"`},
	}
	a, err := zipstream.Build(func(yield func(zipstream.Entry, error) bool) {
		for _, e := range listing {
			if !yield(e, nil) {
				return
			}
		}
	}, zipstream.BuildOptions{})
	if err != nil {
		panic(err)
	}
	// 44 + 71 + 71 bytes of entries (header, data, descriptor), 60 + 65
	// + 65 of central directory, 22 of end record.
	fmt.Println("size:", a.Size())

	open := zipstream.OpenerFunc(func(_ context.Context, e zipstream.Entry) (zipstream.File, error) {
		return strFile{strings.NewReader(files[e.Name]), e.ETag}, nil
	})
	r := a.Reader(context.Background(), open, zipstream.NewSums(0))

	// The last 22 bytes: the end of central directory record.
	var tail bytes.Buffer
	if err := r.WriteRange(&tail, a.Size()-22, 22); err != nil {
		panic(err)
	}
	fmt.Printf("end record: % x\n", tail.Bytes()[:4])

	// The whole archive reads back.
	var all bytes.Buffer
	if err := r.WriteRange(&all, 0, a.Size()); err != nil {
		panic(err)
	}
	zr, _ := zip.NewReader(bytes.NewReader(all.Bytes()), int64(all.Len()))
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if !f.FileInfo().IsDir() {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			names[len(names)-1] += "=" + strings.TrimSpace(string(b))
		}
	}
	fmt.Println(names)
	// Output:
	// size: 398
	// end record: 50 4b 05 06
	// [docs/ docs/a.txt=hello docs/b.txt=world]
}
