// Command check decodes every manifest that `helm template` rendered into
// its Kubernetes API type, strictly: an unknown field, a duplicate key or a
// value of the wrong type fails the check, as does a kind it does not know.
// It then checks the chart's operational promises on the Deployment (two or
// more replicas unless autoscaled, probes on /healthz and /readyz, non-root
// read-only pods with no capabilities, a grace period longer than the
// drain), and, with -env, that the environment variables the Deployment
// sets are exactly the HOOKFLASH_* variables named in a `hookflash serve
// --help` output.
//
// With -readme and -values it also checks that the chart README documents
// every value.
//
// Usage: go run . [-env help.txt] [-readme README.md -values values.yaml] rendered.yaml...
//
// It lives in its own module so the main module stays free of Kubernetes
// dependencies.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

func main() {
	envHelp := flag.String("env", "", "file with `hookflash serve --help` output; check the Deployment sets exactly its HOOKFLASH_* variables")
	readme := flag.String("readme", "", "chart README.md whose values table must document every value of -values")
	values := flag.String("values", "", "chart values.yaml (with -readme)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: check [-env help.txt] [-readme README.md -values values.yaml] rendered.yaml...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var want []string
	if *envHelp != "" {
		help, err := os.ReadFile(*envHelp)
		if err != nil {
			fail(err)
		}
		want = helpVars(help)
		if len(want) == 0 {
			fail(fmt.Errorf("%s names no HOOKFLASH_* variable: is it `hookflash serve --help` output?", *envHelp))
		}
	}
	bad := false
	if *readme != "" || *values != "" {
		if *readme == "" || *values == "" {
			fail(fmt.Errorf("-readme and -values go together"))
		}
		for _, err := range checkReadme(*values, *readme) {
			bad = true
			fmt.Fprintln(os.Stderr, err)
		}
	}
	for _, path := range flag.Args() {
		if errs := checkFile(path, want, *envHelp != ""); len(errs) > 0 {
			bad = true
			for _, err := range errs {
				fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			}
		}
	}
	if bad {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "check:", err)
	os.Exit(1)
}

var helpVarRE = regexp.MustCompile(`HOOKFLASH_[A-Z0-9_]+`)

// helpVars returns the distinct HOOKFLASH_* names in help, sorted.
func helpVars(help []byte) []string {
	var out []string
	for _, m := range helpVarRE.FindAll(help, -1) {
		out = append(out, string(m))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// checkFile decodes and checks every document of one rendered file.
func checkFile(path string, wantEnv []string, checkEnv bool) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		return []error{err}
	}
	var (
		errs []error
		objs []object
	)
	for i, doc := range splitDocs(data) {
		obj, err := decode(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i+1, err))
			continue
		}
		if obj != nil {
			objs = append(objs, *obj)
		}
	}
	if len(objs) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no manifests"))
	}
	errs = append(errs, checkPolicy(objs)...)
	if checkEnv {
		errs = append(errs, checkEnvVars(objs, wantEnv)...)
	}
	return errs
}

// splitDocs splits a multi-document YAML stream on its "---" lines.
func splitDocs(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for line := range bytes.Lines(data) {
		if t := strings.TrimRight(string(line), " \t\r\n"); t == "---" || strings.HasPrefix(t, "--- ") {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	return append(docs, cur.Bytes())
}

// isEmptyDoc reports whether doc holds only comments and blank lines.
func isEmptyDoc(doc []byte) bool {
	for line := range bytes.Lines(doc) {
		t := strings.TrimSpace(string(line))
		if t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

// typeMeta is read first to pick the Go type.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// object is one decoded manifest.
type object struct {
	typeMeta
	name string
	v    any // pointer to the typed object
}

// decode strictly decodes one document; nil for an empty document.
func decode(doc []byte) (*object, error) {
	if isEmptyDoc(doc) {
		return nil, nil
	}
	var tm typeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, fmt.Errorf("not YAML: %w", err)
	}
	newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind %s %s: add it to the checker's table if the chart really needs it", tm.APIVersion, tm.Kind)
	}
	v := newObj()
	// UnmarshalStrict fails on duplicate keys and, through a json.Decoder
	// with DisallowUnknownFields, on fields the type does not have; type
	// mismatches fail in the JSON decoding.
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		return nil, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
	}
	name := nameOf(v)
	if name == "" {
		return nil, fmt.Errorf("%s %s: metadata.name is empty", tm.APIVersion, tm.Kind)
	}
	return &object{typeMeta: tm, name: name, v: v}, nil
}
