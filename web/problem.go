// Package web holds what every HTTP surface shares: RFC 9457 problem
// responses, strict JSON request decoding and (later) the embedded static
// assets and layout of the console.
package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// ProblemBase is the prefix of every problem "type" URI.
const ProblemBase = "https://miniauth.dev/problems/"

// FieldError names one invalid field of a request body or query.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem document. Code is the stable,
// machine-readable identifier clients switch on; Detail is safe to show.
// Internal carries the cause for the log only and is never serialised.
type Problem struct {
	Type        string       `json:"type"`
	Title       string       `json:"title"`
	Status      int          `json:"status"`
	Code        string       `json:"code"`
	Detail      string       `json:"detail,omitempty"`
	Errors      []FieldError `json:"errors,omitempty"`
	BannedUntil *time.Time   `json:"banned_until,omitempty"`

	RetryAfter time.Duration `json:"-"`
	Internal   error         `json:"-"`
}

func (p *Problem) Error() string {
	if p.Internal != nil {
		return fmt.Sprintf("%s: %s: %v", p.Code, p.Detail, p.Internal)
	}
	return p.Code + ": " + p.Detail
}

func (p *Problem) Unwrap() error { return p.Internal }

// NewProblem builds a problem whose title is the HTTP status text.
func NewProblem(status int, code, detail string) *Problem {
	return &Problem{
		Type:   ProblemBase + code,
		Title:  http.StatusText(status),
		Status: status,
		Code:   code,
		Detail: detail,
	}
}

// WithInternal attaches a cause that is logged but never sent.
func (p *Problem) WithInternal(err error) *Problem {
	p.Internal = err
	return p
}

// BadRequest is a 400 invalid_request problem listing the offending fields.
func BadRequest(detail string, fields ...FieldError) *Problem {
	p := NewProblem(http.StatusBadRequest, "invalid_request", detail)
	p.Errors = fields
	return p
}

// FieldLister is a validation error of the domain packages (web does not
// import them): it lists each invalid field with its message.
type FieldLister interface {
	EachField(fn func(field, message string))
}

// Invalid is a 400 invalid_request problem listing a validation error's
// fields.
func Invalid(detail string, v FieldLister) *Problem {
	var fields []FieldError
	v.EachField(func(field, message string) { fields = append(fields, FieldError{Field: field, Message: message}) })
	return BadRequest(detail, fields...)
}

// InternalError is the one answer for anything unexpected: it says nothing
// about the cause, which goes to the log through Internal.
func InternalError(err error) *Problem {
	return NewProblem(http.StatusInternalServerError, "internal_error",
		"The server could not complete the request.").WithInternal(err)
}

// Unexpected is the answer for an error no surface mapped: 503 when a
// dependency was down or too slow (Unavailable), else 500 (InternalError).
func Unexpected(err error) *Problem {
	if dependencyDown(err) {
		return Unavailable(err)
	}
	return InternalError(err)
}

// Abort writes err as a problem response and stops the handler chain.
// Errors that are not a *Problem become Unexpected's answer, whose cause
// is logged.
func Abort(c *gin.Context, err error) {
	var p *Problem
	if !errors.As(err, &p) {
		p = Unexpected(err)
	}
	if p.Internal != nil || p.Status >= 500 {
		_ = c.Error(err)
	}
	if p.Status == http.StatusTooManyRequests || p.RetryAfter > 0 {
		secs := int((p.RetryAfter + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		c.Header("Retry-After", strconv.Itoa(secs))
	}
	c.Header("Cache-Control", "no-store")
	c.Render(p.Status, problemRender{p})
	c.Abort()
}
