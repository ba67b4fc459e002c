package pbxconn

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookflash/hookflash/pbxconn/ami"
	"github.com/hookflash/hookflash/pbxconn/ari"
)

// FuzzNormalize feeds arbitrary AMI streams and ARI messages to one
// normalizer. It must never panic, never emit a channel without an id, and
// every channel it removes must have been added. Seeds: the recorded
// scenarios' frames.
func FuzzNormalize(f *testing.F) {
	dir := fixtureDir(f)
	for _, sc := range []string{"queue", "park", "transfer-attended", "register"} {
		if data, err := os.ReadFile(filepath.Join(dir, "ami-"+sc+".txt")); err == nil {
			frames := strings.Split(string(data), "\r\n\r\n")
			for i := 0; i+8 < len(frames) && i < 200; i += 8 {
				f.Add([]byte(strings.Join(frames[i:i+8], "\r\n\r\n")+"\r\n\r\n"), []byte(nil))
			}
		}
		if data, err := os.ReadFile(filepath.Join(dir, "ari-events-"+sc+".jsonl")); err == nil {
			lines := bytes.Split(data, []byte("\n"))
			for i := 0; i < len(lines) && i < 60; i += 6 {
				f.Add([]byte(nil), bytes.Join(lines[i:min(i+6, len(lines))], []byte("\n")))
			}
		}
	}
	f.Fuzz(func(t *testing.T, amiStream, ariLines []byte) {
		n := newTestNormalizer(nil)
		var ds []Diff
		r := ami.NewReader(bytes.NewReader(amiStream), ami.ReaderConfig{})
		for i := 0; i < 500; i++ {
			m, err := r.ReadMessage()
			if errors.Is(err, io.EOF) || (err != nil && !ami.Recoverable(err)) {
				break
			}
			if err == nil {
				ds = n.HandleAMI(ds, m)
			}
		}
		for _, line := range bytes.Split(ariLines, []byte("\n")) {
			if ev, err := ari.DecodeEvent(line); err == nil {
				ds = n.HandleARI(ds, ev)
			}
		}
		live := map[string]bool{}
		for _, d := range ds {
			if d.Element != ElemChannel {
				continue
			}
			if _, local, _ := SplitKey(d.Key); local == "" {
				t.Fatalf("channel without id: %+v", d)
			}
			switch d.Op {
			case OpAdded:
				live[d.Key] = true
			case OpRemoved:
				if !live[d.Key] {
					t.Fatalf("%s removed but never added", d.Key)
				}
				delete(live, d.Key)
			}
		}
		if len(live) != len(n.Channels()) {
			t.Fatalf("%d channels live by the diffs, %d in the model", len(live), len(n.Channels()))
		}
	})
}
