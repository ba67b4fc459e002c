package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookflash/hookflash/pbxconn/pbxsim"
)

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-count", "3", "-cps", "2.5", "-talk", "1s", "-control", "127.0.0.1:0", "-stamp"}, true},
		{[]string{"-count", "0"}, false},
		{[]string{"-speed", "-1"}, false},
		{[]string{"-nope"}, false},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		if (err == nil) != tc.ok {
			t.Errorf("%v: err = %v", tc.args, err)
		}
	}
}

func TestControl(t *testing.T) {
	cl, err := pbxsim.NewCluster(context.Background(), pbxsim.ClusterConfig{Count: 2, DistinctCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	srv := httptest.NewServer(controlHandler(cl, &pbxsim.TrafficStats{}))
	defer srv.Close()
	do := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := do("GET", "/pbxes")
	var list struct {
		PBXes []struct {
			N    int
			Name string
		}
	}
	if st != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.PBXes) != 2 || list.PBXes[1].Name != "pbx-2" {
		t.Fatalf("GET /pbxes: %d %s", st, body)
	}
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/pbxes/1/faults/drop-ari", 204},
		{"POST", "/pbxes/all/faults/stall?d=10ms", 204},
		{"POST", "/pbxes/2/faults/restart", 204},
		{"POST", "/pbxes/2/faults/malformed-ami", 204},
		{"POST", "/pbxes/3/faults/restart", 404},
		{"POST", "/pbxes/1/faults/explode", 404},
		{"POST", "/pbxes/1/faults/stall?d=forever", 400},
		{"POST", "/pbxes/1/register/1002", 204},
		{"POST", "/pbxes/1/register/1002", 204},
		{"POST", "/pbxes/1/unregister/1002", 204},
		{"POST", "/pbxes/1/unregister/1002", 400},
		{"POST", "/pbxes/1/register/9999", 404},
		{"GET", "/pbxes/1/faults/restart", 405},
	} {
		if st, body := do(tc.method, tc.path); st != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, st, body, tc.want)
		}
	}
	if ep := cl.PBXes()[0].Endpoints()[1]; ep.Resource != "1002" || ep.Online {
		t.Fatalf("after register and unregister: %+v", ep)
	}
}

func TestTable(t *testing.T) {
	cl, err := pbxsim.NewCluster(context.Background(), pbxsim.ClusterConfig{Count: 2, DistinctCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var b strings.Builder
	printTable(&b, cl.PBXes())
	out := b.String()
	for _, want := range []string{"ARI URL", "pbx-1", "pbx-2", "cti-2", "ctipass-2", cl.PBXes()[1].AMIAddr()} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
