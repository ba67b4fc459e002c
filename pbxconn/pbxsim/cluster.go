package pbxsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
)

// Cluster is many simulated PBXes in one process, each with its own ARI and
// AMI port (one Asterisk = one host:port pair, as connectors expect). An
// idle PBX costs its two listeners' accept goroutines and its state; nothing
// else runs until a client connects or a flow is playing (flows are driven
// by one timer per PBX, not goroutines).
type Cluster struct {
	pbxs []*PBX
}

// ClusterConfig describes a cluster.
type ClusterConfig struct {
	// Count is the number of PBXes. Default 1.
	Count int
	// Base is the configuration of every PBX. Name gets a "-N" suffix
	// (default "pbx-N"); credentials get the suffix too when
	// DistinctCredentials is set.
	Base Config
	// Host is the listen host. Default 127.0.0.1.
	Host string
	// ARIBasePort and AMIBasePort, when non-zero, put PBX i on
	// ARIBasePort+i and AMIBasePort+i; zero picks free ports.
	ARIBasePort, AMIBasePort int
	// DistinctCredentials gives each PBX its own user and password
	// (user-N / password-N).
	DistinctCredentials bool
}

// NewCluster starts cfg.Count PBXes. On error the ones started are closed.
func NewCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if cfg.Count <= 0 {
		cfg.Count = 1
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	c := &Cluster{}
	for i := 0; i < cfg.Count; i++ {
		pc := cfg.Base
		n := strconv.Itoa(i + 1)
		if pc.Name == "" {
			pc.Name = "pbx"
		}
		pc.Name += "-" + n
		port := func(base int) string {
			if base == 0 {
				return net.JoinHostPort(cfg.Host, "0")
			}
			return net.JoinHostPort(cfg.Host, strconv.Itoa(base+i))
		}
		pc.ARIAddr, pc.AMIAddr = port(cfg.ARIBasePort), port(cfg.AMIBasePort)
		if cfg.DistinctCredentials {
			pc.fill()
			pc.ARIUser += "-" + n
			pc.ARIPassword += "-" + n
			pc.AMIUser += "-" + n
			pc.AMISecret += "-" + n
		}
		p, err := Start(ctx, pc)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("pbxsim cluster: pbx %d: %w", i+1, err)
		}
		c.pbxs = append(c.pbxs, p)
	}
	return c, nil
}

// PBXes returns the cluster's PBXes in start order.
func (c *Cluster) PBXes() []*PBX { return append([]*PBX(nil), c.pbxs...) }

// Close closes every PBX and waits for them.
func (c *Cluster) Close() error {
	var errs []error
	for _, p := range c.pbxs {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}
