package ari

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedCodeUpToDate regenerates the models, events and fast
// decoders into a temporary directory and compares them with the committed
// files, and checks the Swagger copy against the recorded fixtures'.
func TestGeneratedCodeUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator with the go tool")
	}
	for _, name := range []string{"events.json", "channels.json", "bridges.json", "endpoints.json", "deviceStates.json", "applications.json", "asterisk.json"} {
		ours, err := os.ReadFile(filepath.Join("internal", "gen", "apidocs", name))
		if err != nil {
			t.Fatal(err)
		}
		recorded, err := os.ReadFile(filepath.Join(fixtureDir(t), "api-docs", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours, recorded) {
			t.Errorf("internal/gen/apidocs/%s differs from the recorded fixtures' copy", name)
		}
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not found: %v", err)
	}
	out := t.TempDir()
	cmd := exec.Command(gobin, "run", "./internal/gen", "-docs", "internal/gen/apidocs", "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generator: %v\n%s", err, b)
	}
	files, err := filepath.Glob(filepath.Join(out, "*_gen.go"))
	if err != nil || len(files) != 6 {
		t.Fatalf("generator wrote %v (%v), want 6 files", files, err)
	}
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Base(f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./pbxconn/ari", filepath.Base(f))
		}
	}
}
