package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/hookflash/hookflash/tenant"
)

// Error is an error with its HTTP status and stable machine code; it is the
// body `{"error":{"code":…,"message":…}}` every failing REST call returns.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// errorTable maps package sentinel errors to statuses and codes. It is the one
// place that decides how an error looks to a client. Order matters: the first
// match wins.
var errorTable = []struct {
	err    error
	status int
	code   string
}{
	{tenant.ErrNotFound, http.StatusNotFound, "not_found"},
	{tenant.ErrConflict, http.StatusConflict, "conflict"},
	{tenant.ErrInvalid, http.StatusBadRequest, "invalid"},
}

// extraErrors lets wiring register the sentinel errors of other packages.
var extraErrors []struct {
	err    error
	status int
	code   string
}

// RegisterError adds a sentinel error to the mapping table. Call it during
// start-up only (not concurrently with requests).
func RegisterError(err error, status int, code string) {
	extraErrors = append(extraErrors, struct {
		err    error
		status int
		code   string
	}{err, status, code})
}

// toError converts any error to an *Error using the table.
func toError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return &Error{Status: fe.Code, Code: codeForStatus(fe.Code), Message: fe.Message}
	}
	for _, tables := range [][]struct {
		err    error
		status int
		code   string
	}{errorTable, extraErrors} {
		for _, row := range tables {
			if errors.Is(err, row.err) {
				return &Error{Status: row.status, Code: row.code, Message: err.Error()}
			}
		}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return "error"
}

// errorHandler is fiber's ErrorHandler: every error leaves as JSON.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	e := toError(err)
	if e.Status >= 500 {
		s.log.Error("request failed", "request_id", c.Locals(localRequestID), "path", c.Path(), "err", err)
	}
	return c.Status(e.Status).JSON(fiber.Map{"error": e})
}
