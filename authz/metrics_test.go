package authz

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// counterSum returns the sum of every series of a counter family.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range fams {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	buses := newRedisBusesWith(t, 2, reg)
	var az [2]*Authorizer
	for i := range az {
		a, err := New(Config{Bus: buses[i], Metrics: reg})
		if err != nil {
			t.Fatalf("second Authorizer on one registry: %v", err)
		}
		t.Cleanup(func() { _ = a.Close() })
		az[i] = a
	}
	ctx := context.Background()
	if _, err := az[0].EnsureDefaults(ctx, "acme.example"); err != nil {
		t.Fatal(err)
	}
	if got := counterSum(t, reg, "hookflash_authz_policy_reloads_total"); got < 1 {
		t.Fatalf("reloads = %v", got)
	}
	if got := counterSum(t, reg, "hookflash_authz_policy_changes_total"); got < 1 {
		t.Fatalf("changes = %v", got)
	}
	eventually(t, time.Second, "both buses count the received message", func() bool {
		return counterSum(t, reg, "hookflash_authz_bus_received_total") >= 2 &&
			counterSum(t, reg, "hookflash_authz_bus_published_total") >= 1
	})
}
