// Package web holds the operator console (a static page that shows a
// tenant's live calls, queues, agents and parked calls from the event feed)
// and the JavaScript client SDK, embedded in the binary.
package web

import "embed"

// Files holds console/ (index.html, app.js, style.css) and sdk/hookflash.js.
//
//go:embed console sdk
var Files embed.FS
