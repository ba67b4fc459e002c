package pbxconn

import "errors"

// Errors of the Connector and the normalizer.
var (
	// ErrFenced is what a Publish func returns (wrapped or not) when the
	// broker refused a diff because its fencing epoch is stale: another
	// replica owns the PBX now. Connector.Run returns it at once.
	ErrFenced = errors.New("pbxconn: publish fenced out")
	// ErrConnectorConfig: NewConnector was given an unusable config.
	ErrConnectorConfig = errors.New("pbxconn: invalid connector config")
	// ErrBadElement: DecodeElement was given an unknown element kind or
	// data that does not fit it.
	ErrBadElement = errors.New("pbxconn: bad element")
)
