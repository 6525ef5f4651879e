package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// WriteProblem writes p on a plain net/http ResponseWriter (Abort is its
// gin counterpart).
func WriteProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Del("Content-Length")
	w.Header().Set("Cache-Control", "no-store")
	problemRender{p}.WriteContentType(w)
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// ProblemErrors answers every error of h as a problem: the plain-text
// answers of http.ServeMux (404, 405) and of handlers such as pprof's,
// which call http.Error. Successes pass untouched.
func ProblemErrors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&problemWriter{ResponseWriter: w}, r)
	})
}

type problemWriter struct {
	http.ResponseWriter
	replaced bool // the answer is a problem: what h writes is dropped
}

func (w *problemWriter) WriteHeader(status int) {
	if status < http.StatusBadRequest || w.replaced {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.replaced = true
	WriteProblem(w.ResponseWriter, statusProblem(status, ""))
}

func (w *problemWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (pprof sets
// deadlines for long profiles).
func (w *problemWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusProblem is the problem of an error status that came without one;
// detail "" says what the status says.
func statusProblem(status int, detail string) *Problem {
	code, text := "invalid_request", http.StatusText(status)+"."
	switch {
	case status == http.StatusNotFound:
		code, text = "not_found", "No such endpoint."
	case status == http.StatusMethodNotAllowed:
		code, text = "method_not_allowed", "The endpoint does not take this method."
	case status == http.StatusRequestHeaderFieldsTooLarge:
		code, text = "headers_too_large", "The request line and headers are larger than the server reads."
	case status >= http.StatusInternalServerError:
		code, text = "internal_error", "The server could not complete the request."
	}
	if detail == "" {
		detail = text
	}
	return NewProblem(status, code, detail)
}

// ProblemListener makes the requests net/http refuses before any handler
// runs answered as problems too: a malformed request line or header (a NUL
// in it, say), headers past MaxHeaderBytes, an unknown transfer coding or
// protocol version. net/http writes those answers itself, in text/plain,
// in one write straight to the connection, shaped as no response of a
// handler is (Content-Type before Connection, no Date), and then closes
// the connection; that write is replaced.
func ProblemListener(ln net.Listener) net.Listener { return problemListener{ln} }

type problemListener struct{ net.Listener }

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return problemConn{c}, nil
}

type problemConn struct{ net.Conn }

func (c problemConn) Write(b []byte) (int, error) {
	p, ok := refusal(b)
	if !ok {
		return c.Conn.Write(b)
	}
	if _, err := c.Conn.Write(p); err != nil {
		return 0, err
	}
	return len(b), nil
}

// CloseWrite keeps what net/http does with a *net.TCPConn before it
// closes one whose request it refused: the client reads the answer
// instead of a reset.
func (c problemConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// refusalHeaders end the status line of every answer net/http writes for
// a request it could not read (net/http server.go, errorHeaders).
const refusalHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// refusal is the problem answer that replaces b when b is one of net/http's
// refusals: "HTTP/1.1 <status> <text>[: <reason>]" then refusalHeaders.
// A refusal is the client's doing, so its 501 (transfer coding) and 505
// (protocol version) become 400s: a 5xx says the server failed.
func refusal(b []byte) ([]byte, bool) {
	line, text, ok := bytes.Cut(b, []byte(refusalHeaders))
	if !ok || len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) || bytes.Contains(line, []byte("\r\n")) {
		return nil, false
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil || status < 400 || status > 599 {
		return nil, false
	}
	// The reason follows the status text, or is the body when the body
	// does not merely repeat the status line.
	_, reason, _ := bytes.Cut(line[12:], []byte(": "))
	if len(reason) == 0 && len(text) > 0 && (text[0] < '0' || text[0] > '9') {
		reason = text
	}
	detail := ""
	if status != http.StatusRequestHeaderFieldsTooLarge {
		detail = "The request is not valid HTTP."
		if len(reason) > 0 {
			detail = "The request is not valid HTTP: " + string(reason) + "."
		}
	}
	if status >= http.StatusInternalServerError {
		status = http.StatusBadRequest
	}
	body, err := json.Marshal(statusProblem(status, detail))
	if err != nil {
		return nil, false
	}
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nCache-Control: no-store\r\nConnection: close\r\n"+
		"Content-Length: %d\r\nContent-Type: application/problem+json\r\n\r\n%s", status, http.StatusText(status), len(body), body), true
}
