package pbxsim

import (
	"context"
	"testing"
	"time"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

// The project's AMI client against the simulator over real TCP: MD5 login,
// filters, EventList actions collected whole, call-control actions, events,
// and the malformed-frame fault counted but survived.
func TestAMIClientAgainstSimulator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h := startSim(t, Config{})
	user, secret := h.pbx.AMICredentials()
	c, err := ami.Dial(ctx, ami.Config{Addr: h.pbx.AMIAddr(), Username: user, Secret: secret, UseMD5: true, Events: true,
		Filters: []string{"!Event: VarSet"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Banner() != "Asterisk Call Manager/11.0.0" {
		t.Errorf("banner %q", c.Banner())
	}
	h.pbx.PinFlow("park")
	h.originate("Local/9002@customers", "1001")
	cust := h.channel("Local/9002@customers-", ";1")
	act := func(kv ...string) ami.Message {
		var m ami.Message
		for i := 0; i+1 < len(kv); i += 2 {
			m.Add(kv[i], kv[i+1])
		}
		return m
	}
	list, err := c.DoList(ctx, act("Action", "CoreShowChannels"))
	if err != nil || len(list.Items) != 4 || list.Complete.Get("ListItems") != "4" {
		t.Fatalf("CoreShowChannels: %+v %v", list, err)
	}
	resp, err := c.Do(ctx, act("Action", "Park", "Channel", cust.Name))
	if err != nil || resp.Get("Message") != "Park successful" {
		t.Fatalf("Park: %+v %v", resp, err)
	}
	list, err = c.DoList(ctx, act("Action", "ParkedCalls"))
	if err != nil || len(list.Items) != 1 || list.Items[0].Get("ParkingSpace") != "701" || list.Items[0].Get("ParkeeUniqueid") != cust.ID {
		t.Fatalf("ParkedCalls: %+v %v", list, err)
	}
	for _, a := range []string{"QueueStatus", "QueueSummary", "Status", "BridgeList", "DeviceStateList", "PJSIPShowEndpoints"} {
		if list, err := c.DoList(ctx, act("Action", a)); err != nil || list.Complete == nil {
			t.Errorf("%s: %+v %v", a, list, err)
		}
	}
	h.pbx.MalformedAMI()
	seen := map[string]bool{}
	deadline := time.After(5 * time.Second)
	for !seen["ParkedCall"] {
		select {
		case ev := <-c.Events():
			if ev.Event() == "VarSet" {
				t.Fatal("filtered VarSet delivered")
			}
			seen[ev.Event()] = true
		case <-deadline:
			t.Fatalf("no ParkedCall event; saw %v", seen)
		case <-c.Done():
			t.Fatalf("client failed: %v", c.Err())
		}
	}
	if _, err := c.Do(ctx, act("Action", "Ping")); err != nil {
		t.Fatalf("ping after garbage: %v", err)
	}
}
