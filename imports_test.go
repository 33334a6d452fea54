package rangeserve_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportRules keeps the package graph of docs/DESIGN.md true: leaves
// import nothing of ours, media knows storage only through its interfaces,
// only storage/s3 (and test support) imports minio-go, only cmd imports
// YAML, and nothing imports cmd.
func TestImportRules(t *testing.T) {
	const mod = "github.com/rangeserve/rangeserve"
	// allowed lists, per package, the packages of ours it may import.
	allowed := map[string][]string{
		"rangeio":          {},
		"mp4":              {},
		"storage":          {},
		"auth":             {"storage"},
		"accesslog":        {},
		"static":           {},
		"storage/local":    {"storage", "rangeio"},
		"storage/s3":       {"storage", "rangeio"},
		"media":            {"storage", "rangeio", "zipstream", "mp4"},
		"internal/testenv": {},
		"zipstream":        {},
		"internal/uitest":  {"internal/testenv"},
		"cors":             {},
		"health":           {},
		"limits":           {},
		"server":           {},
		"metrics":          {"storage", "rangeio"},
		"":                 {},
		// Examples use the library's public API only.
		"examples/sqlite-export": {"media"},
	}
	third := map[string][]string{ // third-party module prefixes each may use
		"storage/s3":             {"github.com/minio/minio-go/v7"},
		"storage/local":          {"golang.org/x/sys"}, // openat2(2)
		"internal/testenv":       {"github.com/minio/minio-go/v7"},
		"internal/uitest":        {"github.com/chromedp/chromedp", "github.com/chromedp/cdproto"},
		"media":                  {"github.com/h2non/filetype"},
		"rangeio":                {"golang.org/x/sync"},
		"zipstream":              {"github.com/hashicorp/golang-lru/v2"},
		"examples/sqlite-export": {"modernc.org/sqlite"}, // pure Go, no cgo
		"metrics":                {"github.com/prometheus/client_golang"},
		"limits":                 {"golang.org/x/time"},
	}
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, mod), "/")
		for _, imp := range p.Imports {
			if imp == mod+"/cmd/rangeserve" || strings.HasPrefix(imp, mod+"/cmd/") {
				t.Errorf("%s imports %s: nothing may import cmd", p.ImportPath, imp)
			}
			if strings.HasPrefix(imp, "go.yaml.in/") || strings.HasPrefix(imp, "gopkg.in/yaml") {
				if !strings.HasPrefix(rel, "cmd/") {
					t.Errorf("%s imports %s: only cmd decodes YAML", p.ImportPath, imp)
				}
			}
			ok, limited := allowed[rel]
			if !limited {
				continue // cmd/... may import everything
			}
			if strings.HasPrefix(imp, mod+"/") {
				dep := strings.TrimPrefix(imp, mod+"/")
				if !slices.Contains(ok, dep) {
					t.Errorf("%s imports %s: docs/DESIGN.md allows only %v", rel, dep, ok)
				}
				continue
			}
			if first := strings.SplitN(imp, "/", 2)[0]; strings.Contains(first, ".") {
				if !hasPrefixIn(imp, third[rel]) {
					t.Errorf("%s imports third-party %s: not among %v", rel, imp, third[rel])
				}
			}
		}
	}
	if seen < 8 {
		t.Fatalf("go list saw %d packages: the test is not looking at the module", seen)
	}
}

func hasPrefixIn(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if s == p || strings.HasPrefix(s, p+"/") {
			return true
		}
	}
	return false
}
