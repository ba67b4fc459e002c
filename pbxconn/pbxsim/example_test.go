package pbxsim_test

import (
	"context"
	"fmt"
	"math"

	"github.com/hookflash/hookflash/pbxconn/pbxsim"
)

// Start a PBX, place a customer into queue support and look at the truth.
// Clients connect to p.ARIURL(), p.ARIEventsURL("cti") and p.AMIAddr()
// with p.ARICredentials() / p.AMICredentials().
func Example() {
	ctx := context.Background()
	p, err := pbxsim.Start(ctx, pbxsim.Config{Speed: math.Inf(1)})
	if err != nil {
		panic(err)
	}
	defer p.Close()

	ch, err := p.Originate(pbxsim.OriginateRequest{Endpoint: "Local/9001@customers", Extension: "8000", Context: "default"})
	if err != nil {
		panic(err)
	}
	_ = ch // the ARI channel object, as POST /ari/channels returns it
	for _, c := range p.Channels() {
		fmt.Println(c.Name, c.State, c.App, c.AppData)
	}
	fmt.Println(len(p.QueueCallers()), "waiting") // the agent answered
	// Output:
	// Local/9001@customers-00000000;1 Up Queue support,tTkKxX,,,300
	// Local/9001@customers-00000000;2 Up Wait 600
	// Local/1003@agents-00000001;1 Up AppQueue (Outgoing Line)
	// Local/1003@agents-00000001;2 Up Wait 600
	// 0 waiting
}
