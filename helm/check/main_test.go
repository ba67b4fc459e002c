package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodDeployment = `
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {HOOKFLASH_LISTEN: ":8080"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: hf}
spec:
  replicas: 2
  selector: {matchLabels: {app: hf}}
  template:
    metadata: {labels: {app: hf}}
    spec:
      terminationGracePeriodSeconds: 30
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: hookflash
          image: x
          envFrom: [{configMapRef: {name: cfg}}]
          env: [{name: HOOKFLASH_REDIS_URL, value: "redis://r"}]
          livenessProbe: {httpGet: {path: /healthz, port: 8080}}
          readinessProbe: {httpGet: {path: /readyz, port: 8080}}
          lifecycle: {preStop: {sleep: {seconds: 5}}}
          resources: {requests: {cpu: 100m}}
          securityContext:
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
`

func TestCheckFile(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		help    string
		wantErr string // "" = passes
	}{
		{"good", goodDeployment, "HOOKFLASH_LISTEN HOOKFLASH_REDIS_URL", ""},
		{"unknown field", strings.Replace(goodDeployment, "replicas: 2", "replicas: 2\n  replica: 3", 1), "", `unknown field "replica"`},
		{"wrong type", strings.Replace(goodDeployment, "replicas: 2", "replicas: two", 1), "", "cannot unmarshal"},
		{"duplicate key", strings.Replace(goodDeployment, "replicas: 2", "replicas: 2\n  replicas: 3", 1), "", "already set"},
		{"unknown kind", goodDeployment + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", "", "unknown kind v1 Pod"},
		{"one replica", strings.Replace(goodDeployment, "replicas: 2", "replicas: 1", 1), "", "fewer than 2 replicas"},
		{"writable root", strings.Replace(goodDeployment, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", 1), "", "root filesystem is writable"},
		{"short grace", strings.Replace(goodDeployment, "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: 5", 1), "", "does not exceed the preStop"},
		{"env missing", goodDeployment, "HOOKFLASH_LISTEN HOOKFLASH_REDIS_URL HOOKFLASH_NEW", "documents HOOKFLASH_NEW but the chart does not set"},
		{"env extra", goodDeployment, "HOOKFLASH_LISTEN", "sets HOOKFLASH_REDIS_URL, which"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rendered.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			errs := checkFile(path, helpVars([]byte(tt.help)), tt.help != "")
			var msgs []string
			for _, err := range errs {
				msgs = append(msgs, err.Error())
			}
			all := strings.Join(msgs, "\n")
			switch {
			case tt.wantErr == "" && len(errs) > 0:
				t.Fatalf("unexpected errors:\n%s", all)
			case tt.wantErr != "" && !strings.Contains(all, tt.wantErr):
				t.Fatalf("errors %q do not mention %q", all, tt.wantErr)
			}
		})
	}
}

func TestCheckReadme(t *testing.T) {
	dir := t.TempDir()
	values := filepath.Join(dir, "values.yaml")
	readme := filepath.Join(dir, "README.md")
	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(values, "a: 1\nb:\n  c: x\n  d: y\nres:\n  requests: {cpu: 1}\nprobes:\n  live: {period: 1}\n")
	write(readme, "| `a` | | |\n| `b.c` | | |\n| `res` | | |\n| `probes.live.*` | | |\n")
	errs := checkReadme(values, readme)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), ": b.d") {
		t.Fatalf("errors %v, want exactly b.d undocumented", errs)
	}
	write(readme, "| `a` | | |\n| `b.c` `b.d` | | |\n| `res` | | |\n| `probes.live.*` | | |\n")
	if errs := checkReadme(values, readme); len(errs) != 0 {
		t.Fatalf("unexpected errors %v", errs)
	}
}
