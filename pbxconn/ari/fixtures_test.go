package ari

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// fixtureDir is the recorded Asterisk 22 traffic shared by all helpers
// (/work/shared/fixtures/asterisk-22 next to the repository).
func fixtureDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "fixtures", "asterisk-22"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "api-docs", "events.json")); err != nil {
		t.Fatalf("recorded fixtures not found at %s: %v", dir, err)
	}
	return dir
}

// fixtureLine is one message of a .jsonl fixture.
type fixtureLine struct {
	File string
	Line int
	Data []byte
}

// fixtureEvents returns every line of every ari-events-*.jsonl and
// ari-rest-over-ws.jsonl fixture.
func fixtureEvents(t testing.TB) []fixtureLine {
	t.Helper()
	dir := fixtureDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "ari-events-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(dir, "ari-rest-over-ws.jsonl"))
	var out []fixtureLine
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		n := 0
		for sc.Scan() {
			n++
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			out = append(out, fixtureLine{File: filepath.Base(f), Line: n, Data: append([]byte(nil), line...)})
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if len(out) == 0 {
		t.Fatal("no fixture events found")
	}
	return out
}
