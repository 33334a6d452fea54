package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
)

func main() {
	dir := flag.String("dir", "", "folder to create (must not exist)")
	concat := flag.String("concat", "", "file to write with every file's bytes, one after the other")
	folders := flag.Int("folders", 100, "subfolders of small files")
	perFolder := flag.Int("per-folder", 100, "small files per subfolder")
	smallMax := flag.Int("small-max", 64<<10, "largest small file, bytes (sizes are uniform in [1, small-max])")
	large := flag.Int("large", 8, "large files at the top of the folder")
	largeSize := flag.Int64("large-size", 224<<20, "size of each large file, bytes")
	seed := flag.Uint64("seed", 1, "seed of the random bytes and sizes")
	flag.Parse()
	if *dir == "" || *concat == "" || *smallMax < 1 || *largeSize < 0 {
		flag.Usage()
		os.Exit(2)
	}
	files, total, err := generate(*dir, *concat, *folders, *perFolder, *smallMax, *large, *largeSize, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gentree:", err)
		os.Exit(1)
	}
	fmt.Println(files, total)
}

// generate writes the tree and the concatenation and returns the number
// of files and their total size.
func generate(dir, concat string, folders, perFolder, smallMax, large int, largeSize int64, seed uint64) (files int, total int64, err error) {
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		return 0, 0, fmt.Errorf("%s exists (or cannot be checked: %v)", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	cf, err := os.Create(concat)
	if err != nil {
		return 0, 0, err
	}
	defer cf.Close()
	cw := bufio.NewWriterSize(cf, 1<<20)
	sizes := rand.New(rand.NewPCG(seed, 2))
	data := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	buf := make([]byte, 1<<20)
	write := func(name string, size int64) error {
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		w := io.MultiWriter(f, cw)
		for left := size; left > 0; {
			b := buf[:min(int64(len(buf)), left)]
			_, _ = data.Read(b) // never fails
			if _, err := w.Write(b); err != nil {
				f.Close()
				return err
			}
			left -= int64(len(b))
		}
		files++
		total += size
		return f.Close()
	}
	for d := range folders {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", d))
		if err := os.Mkdir(sub, 0o755); err != nil {
			return files, total, err
		}
		for i := range perFolder {
			size := 1 + sizes.Int64N(int64(smallMax))
			if err := write(filepath.Join(sub, fmt.Sprintf("f%03d.bin", i)), size); err != nil {
				return files, total, err
			}
		}
	}
	for i := range large {
		if err := write(filepath.Join(dir, fmt.Sprintf("large-%d.bin", i)), largeSize); err != nil {
			return files, total, err
		}
	}
	if err := cw.Flush(); err != nil {
		return files, total, err
	}
	return files, total, cf.Close()
}
