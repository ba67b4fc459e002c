package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/hookflash/hookflash/cmd/hookflash/internal/api"
)

// TestOpenAPIMatchesRoutes fails when a route is served but not documented,
// or documented but not served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	r := startReplica(t, backend{name: "memory"})
	registered := r.app.api.RegisteredRoutes()
	documented := api.DocumentedRoutes()
	for _, k := range registered {
		if !slices.Contains(documented, k) {
			t.Errorf("route %s is served but missing from the OpenAPI document", k)
		}
	}
	for _, k := range documented {
		if !slices.Contains(registered, k) {
			t.Errorf("route %s is documented but not served", k)
		}
	}
	res := call(t, "GET", r.base+"/api/v1/openapi.json", "", nil)
	mustStatus(t, res, 200, "openapi.json")
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(res.raw, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %v %s", err, res.raw[:min(200, len(res.raw))])
	}
	if _, ok := doc.Paths["/api/v1/users/{id}"]["patch"]; !ok {
		t.Fatalf("document lacks PATCH /api/v1/users/{id}")
	}
}
